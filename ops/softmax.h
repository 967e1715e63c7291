// Softmax over the last dimension, y = exp(x - max) / sum exp(x - max), and its gradient
// dx = y * (dy - sum(dy * y)) from the saved output.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// x, y: [..., C] (rows of C), same shape, contiguous, one device; on the CPU one dtype (f32 or
// f64), on CUDA each of f32, bf16 or f16 (computed in f32). y may alias x (same dtype).
void softmax_forward(const Tensor& x, Tensor& y);
// y (saved output), dy, dx: [..., C], dtypes as above. dx is overwritten and may alias dy.
void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx);

namespace cpu {
// Row-wise softmax of x[rows, cols] into y; row sums accumulate in double.
template <class T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols);
template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols);
}  // namespace cpu

#ifdef ATTNCAMP_WITH_CUDA
// CUDA launchers on the current stream of `device`: [rows, cols] arrays, each pointer with its
// dtype (f32, bf16 or f16); f32 accumulation.
namespace cuda {
void softmax_forward(const void* x, DType xt, void* y, DType yt, int64_t rows, int64_t cols, int device);
void softmax_backward(const void* y, DType yt, const void* dy, DType dyt, void* dx, DType dxt, int64_t rows,
                      int64_t cols, int device);
}  // namespace cuda
#endif

}  // namespace attncamp::ops
