// Adding a per-column bias to a row-major matrix, and its gradient (column sums).
// The column-sum kernel is shared by the ops whose parameter gradients are sums over rows;
// it is deterministic: fixed row chunks reduced in a fixed order, whatever the thread count.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// Dtypes: on the CPU every tensor is f32 or f64, all one dtype. On CUDA y and dy may be f32,
// bf16 or f16 (computed in f32) and b and db, parameters, are f32.

// y[..., C] += b[C] in place (y is viewed as [N, C] rows). Contiguous, one device.
void bias_add_forward(Tensor& y, const Tensor& b);
// Sets every row of y [N,C] to b [C] (the GEMM epilogue of Linear accumulates onto it).
void bias_fill(Tensor& y, const Tensor& b);
// db[C] += sum over rows of dy[..., C] (accumulates, as parameter gradients do).
void bias_add_backward(const Tensor& dy, Tensor& db);

namespace cpu {
// y[r*cols + c] += b[c] for r < rows.
template <class T>
void bias_add_forward(T* y, const T* b, int64_t rows, int64_t cols);
template <class T>
void bias_fill(T* y, const T* b, int64_t rows, int64_t cols);
// out[c] += sum_r x[r*cols + c], summed in double over fixed chunks of rows, then in chunk order.
template <class T>
void column_sum_accumulate(const T* x, int64_t rows, int64_t cols, T* out);
}  // namespace cpu

#ifdef ATTNCAMP_WITH_CUDA
// CUDA launchers on the current stream of `device`; y and x are [rows, cols] of dtype yt / xt
// (f32, bf16 or f16), b and out are f32 [cols].
namespace cuda {
void bias_add_forward(void* y, DType yt, const float* b, int64_t rows, int64_t cols, int device);
void bias_fill(void* y, DType yt, const float* b, int64_t rows, int64_t cols, int device);
// out[c] += sum_r x[r*cols + c], summed in double in a fixed order (deterministic, no atomics).
void column_sum_accumulate(const void* x, DType xt, int64_t rows, int64_t cols, float* out, int device);
}  // namespace cuda
#endif

}  // namespace attncamp::ops
