// Softmax over the last dimension, y = exp(x - max) / sum exp(x - max), and its gradient
// dx = y * (dy - sum(dy * y)) from the saved output.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// x, y: [..., C] (rows of C), same shape, f32 or f64, contiguous, one device. y may alias x.
void softmax_forward(const Tensor& x, Tensor& y);
// y (saved output), dy, dx: [..., C]. dx is overwritten and may alias dy.
void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx);

namespace cpu {
// Row-wise softmax of x[rows, cols] into y; row sums accumulate in double.
template <class T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols);
template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols);
}  // namespace cpu

}  // namespace attncamp::ops
