// Top-k selection over a score vector: the indices of the k best scores in score order, the
// pre-selection of detection heads before NMS (pre_nms_top_n). Scores are ordered as NMS orders
// them (ops/nms_math.h: larger first, NaN last, equal scores by lower index), so the selection is
// total and the CPU and CUDA results are identical. (ops::topk in ops/reduce.h ranks the rows of a
// matrix with k passes; this is one long vector and any k.)
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// scores [N] contiguous (CPU: f32 or f64; CUDA: f32), k >= 0. Returns a new contiguous i64 tensor
// [min(k, N)] on the scores' device: the indices of the min(k, N) best scores, best first.
Tensor topk_indices(const Tensor& scores, int64_t k);

namespace cpu {
// out[0, min(k, n)) = the indices of the best scores, best first.
template <class T>
void topk_indices(const T* scores, int64_t n, int64_t k, int64_t* out);
}  // namespace cpu

// CUDA launcher (ops/cuda/nms_topk.cu), queued on the calling thread's current stream of `device`
// (a radix sort of all n scores by key and index; CUB's temporary storage from the caching
// allocator).
namespace cuda {
struct TopkIndicesArgs {
  int64_t n = 0, k = 0;           // k <= n
  const float* scores = nullptr;  // [n]
  int64_t* out = nullptr;         // [k]
  int device = 0;
};
void topk_indices(const TopkIndicesArgs& a);

// Steps the other selection ops share (NMS, sampling), on the same stream:
// order[0, n) = 0..n-1 sorted by (score_key(scores[i]), i); device pointers.
void score_order(const float* scores, int64_t n, int32_t* order, int device);
// out[k] = in[k] for k < n (i32 index lists into i64 results); device pointers.
void widen_indices(const int32_t* in, int64_t n, int64_t* out, int device);
}  // namespace cuda

}  // namespace attncamp::ops
