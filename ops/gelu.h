// Exact GELU activation, y = x * Phi(x) = x/2 * (1 + erf(x / sqrt(2))) (PyTorch nn.GELU's
// default, not the tanh approximation), and its gradient. Element-wise over any shape.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// y = gelu(x). x, y: same shape, contiguous, one device; on the CPU one dtype (f32 or f64), on
// CUDA each of f32, bf16 or f16 independently (computed in f32).
void gelu_forward(const Tensor& x, Tensor& y);
// dx = dy * gelu'(x) = dy * (Phi(x) + x * phi(x)), from the saved input x. dx may alias dy.
// Dtypes as for gelu_forward.
void gelu_backward(const Tensor& x, const Tensor& dy, Tensor& dx);

namespace cpu {
// f64 uses std::erf / std::exp; f32 uses vectorisable rational/polynomial approximations
// (max error about 1e-7 absolute against the f64 result).
template <class T>
void gelu_forward(const T* x, T* y, int64_t n);
template <class T>
void gelu_backward(const T* x, const T* dy, T* dx, int64_t n);
}  // namespace cpu

#ifdef ATTNCAMP_WITH_CUDA
// CUDA launchers on the current stream of `device`: n elements, each pointer with its dtype
// (f32, bf16 or f16).
namespace cuda {
void gelu_forward(const void* x, DType xt, void* y, DType yt, int64_t n, int device);
void gelu_backward(const void* x, DType xt, const void* dy, DType dyt, void* dx, DType dxt, int64_t n, int device);
}  // namespace cuda
#endif

}  // namespace attncamp::ops
