// Exact GELU activation, y = x * Phi(x) = x/2 * (1 + erf(x / sqrt(2))) (PyTorch nn.GELU's
// default, not the tanh approximation), and its gradient. Element-wise over any shape.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// y = gelu(x). x, y: same shape, f32 or f64, contiguous, one device.
void gelu_forward(const Tensor& x, Tensor& y);
// dx = dy * gelu'(x) = dy * (Phi(x) + x * phi(x)), from the saved input x. dx may alias dy.
void gelu_backward(const Tensor& x, const Tensor& dy, Tensor& dx);

namespace cpu {
// f64 uses std::erf / std::exp; f32 uses vectorisable rational/polynomial approximations
// (max error about 1e-7 absolute against the f64 result).
template <class T>
void gelu_forward(const T* x, T* y, int64_t n);
template <class T>
void gelu_backward(const T* x, const T* dy, T* dx, int64_t n);
}  // namespace cpu

}  // namespace attncamp::ops
