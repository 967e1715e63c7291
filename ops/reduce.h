// Reductions used by training and evaluation: deterministic sums and means (double
// accumulation in fixed-size chunks), row-wise argmax and top-k, and top-k accuracy counts.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// Dtypes: x and logits are f32 or f64 on the CPU, f32, bf16 or f16 on CUDA. On CUDA the
// functions that return a host value wait for the calling thread's current stream.

// Sum of all elements of x (contiguous), accumulated in double in an order that does not depend
// on the thread count (CPU) or the GPU (CUDA: a fixed grid for the size, partials added in order).
double sum(const Tensor& x);
// sum(x) / numel; x must not be empty.
double mean(const Tensor& x);

// idx[i] = argmax_c x[i,c] for x [N,C], idx i32 [N]; ties go to the lower index, NaN ranks last.
void argmax(const Tensor& x, Tensor& idx);

// The k largest entries of each row of x [N,C] (1 <= k <= C), in descending order:
// values [N,k] (x's dtype), idx i32 [N,k]. Ties go to the lower index first.
void topk(const Tensor& x, int k, Tensor& values, Tensor& idx);

// Number of rows i of logits [N,C] whose label (i32 [N]) is among the k largest logits of the row,
// with topk's tie order. Rows labelled -1 are skipped; other labels must be in [0, C); 1 <= k <= C.
int64_t count_topk_correct(const Tensor& logits, const Tensor& labels, int k);

// CUDA launchers (ops/cuda/reduce.cu) on the calling thread's current stream of `device`; device
// pointers, x of dtype `dtype` (f32, bf16 or f16), rows of `cols` elements.
namespace cuda {
// Sum of x[0, n), or of the squares of its elements, in double (waits for the stream).
double sum(const void* x, DType dtype, int64_t n, bool squares, int device);
// idx [rows] as for ops::argmax.
void argmax(const void* x, DType dtype, int64_t rows, int64_t cols, int32_t* idx, int device);
// values [rows, k] (dtype), idx [rows, k] as for ops::topk; costs k passes over each row.
void topk(const void* x, DType dtype, int64_t rows, int64_t cols, int k, void* values, int32_t* idx, int device);
// As ops::count_topk_correct (labels [rows] on the device); throws naming the first row whose
// label is outside [-1, cols). Waits for the stream.
int64_t count_topk_correct(const void* logits, DType dtype, int64_t rows, int64_t cols, const int32_t* labels, int k,
                           int device);
}  // namespace cuda

}  // namespace attncamp::ops
