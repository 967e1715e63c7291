// Element-wise arithmetic (add, in-place add and scale) and tanh with its gradient.
// Tensors are treated as flat arrays: operands need equal shapes, contiguity and one device.
// On the CPU all operands have one dtype (f32 or f64). On CUDA each operand may be f32, bf16
// or f16 independently (e.g. add_ of a bf16 branch into an f32 residual stream); values are
// computed in f32 and rounded to the output's dtype. Outputs may alias inputs of their dtype.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// out = a + b (same shapes; out may be a or b).
void add(const Tensor& a, const Tensor& b, Tensor& out);
// y += x.
void add_(Tensor& y, const Tensor& x);
// y *= s.
void scale_(Tensor& y, double s);
// y = tanh(x).
void tanh_forward(const Tensor& x, Tensor& y);
// dx = dy * (1 - y^2), from the saved output y = tanh(x). dx may alias dy.
void tanh_backward(const Tensor& y, const Tensor& dy, Tensor& dx);

namespace cpu {
template <class T>
void add(const T* a, const T* b, T* out, int64_t n);
template <class T>
void add_inplace(T* y, const T* x, int64_t n);
template <class T>
void scale_inplace(T* y, T s, int64_t n);
template <class T>
void tanh_forward(const T* x, T* y, int64_t n);
template <class T>
void tanh_backward(const T* y, const T* dy, T* dx, int64_t n);
}  // namespace cpu

#ifdef ATTNCAMP_WITH_CUDA
// CUDA launchers on the current stream of `device`: n elements, each pointer with its dtype
// (f32, bf16 or f16).
namespace cuda {
void add(const void* a, DType at, const void* b, DType bt, void* out, DType ot, int64_t n, int device);
void add_inplace(void* y, DType yt, const void* x, DType xt, int64_t n, int device);
void scale_inplace(void* y, DType yt, float s, int64_t n, int device);
void tanh_forward(const void* x, DType xt, void* y, DType yt, int64_t n, int device);
void tanh_backward(const void* y, DType yt, const void* dy, DType dyt, void* dx, DType dxt, int64_t n, int device);
}  // namespace cuda
#endif

}  // namespace attncamp::ops
