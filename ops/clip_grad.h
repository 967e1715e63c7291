// Global gradient-norm clipping over the flat gradient buffer (torch.nn.utils.clip_grad_norm_
// with the L2 norm), with a norm that is bitwise reproducible whatever the thread count.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// L2 norm of all elements of flat (contiguous; f32 or f64 on the CPU, f32 on CUDA), accumulated
// in double over fixed chunks whose partial sums are added in order (on CUDA: ops::cuda::sum of
// the squares, which waits for the stream). Inf or NaN elements give an Inf or NaN norm.
double global_norm(const Tensor& flat);

// Returns the norm before clipping. If it exceeds max_norm (> 0), scales flat in place by
// max_norm / (norm + 1e-6), PyTorch's coefficient. A non-finite norm is returned and nothing is scaled.
double clip_grad_norm_(Tensor& flat, double max_norm);

namespace cuda {
// x[0, n) *= factor for a device f32 buffer, on the calling thread's current stream of `device`
// (ops/cuda/clip_grad.cu).
void scale_f32(float* x, int64_t n, float factor, int device);
}  // namespace cuda

}  // namespace attncamp::ops
