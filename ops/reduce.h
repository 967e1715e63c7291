// Reductions used by training and evaluation: deterministic sums and means (double
// accumulation in fixed-size chunks), row-wise argmax and top-k, and top-k accuracy counts.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// Sum of all elements of x (f32 or f64, contiguous), accumulated in double in an order that
// does not depend on the thread count.
double sum(const Tensor& x);
// sum(x) / numel; x must not be empty.
double mean(const Tensor& x);

// idx[i] = argmax_c x[i,c] for x [N,C] (f32/f64), idx i32 [N]; ties go to the lower index.
void argmax(const Tensor& x, Tensor& idx);

// The k largest entries of each row of x [N,C] (1 <= k <= C), in descending order:
// values [N,k] (x's dtype), idx i32 [N,k]. Ties go to the lower index first.
void topk(const Tensor& x, int k, Tensor& values, Tensor& idx);

// Number of rows i of logits [N,C] whose label (i32 [N]) is among the k largest logits of the row,
// with topk's tie order. Rows labelled -1 are skipped; other labels must be in [0, C); 1 <= k <= C.
int64_t count_topk_correct(const Tensor& logits, const Tensor& labels, int k);

}  // namespace attncamp::ops
