// Element-wise arithmetic (add, in-place add and scale) and tanh with its gradient.
// Tensors are treated as flat arrays: operands need equal shapes, one dtype (f32 or f64),
// contiguity and one device. Outputs may alias inputs.
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

}  // namespace attncamp::ops
