// Fully connected layer y = x @ w^T + b on the last dimension, its fusion with the exact GELU,
// and their gradients. Both directions are GEMMs (ops/gemm.h) plus a bias broadcast or column
// sum (ops/bias_add.h); on CUDA the bias rides in cuBLASLt's epilogue (ops/cuda/linear.cu).
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// y[..., out] = x[..., in] @ w[out, in]^T + b[out]. x is viewed as [N, in] (N = numel / in) and
// y must have x's leading dims with last dim out. b may be undefined (no bias). All tensors
// contiguous, on one device. CPU: all f32 or f64 (one dtype). CUDA: x, w, y one activation dtype
// (f32, bf16 or f16), b f32; with a bf16/f16 y the bias is rounded to y's dtype before the
// epilogue adds it (cuBLASLt's bias has the output's type; PyTorch autocast rounds it too).
void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y);
// Given dy[..., out]: dx[..., in] = dy @ w (overwritten; skipped when dx is undefined),
// dw[out, in] += dy^T @ x (accumulates), db[out] += column sums of dy (accumulates; skipped
// when db is undefined). CUDA: dy, x, w, dx one activation dtype; dw, db f32 (products and sums
// accumulate in f32).
void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw, Tensor& db);

// Linear followed by the exact GELU (ops/gelu.h): pre = x @ w^T + b (saved for the backward),
// y = gelu(pre). Shapes and dtypes as linear_forward; pre and y have y's shape and dtype. On
// CUDA, y is computed from pre as stored (rounded to its dtype).
void linear_gelu_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& pre, Tensor& y);
// Gradients of linear_gelu_forward from dy (y's shape): dpre = dy * gelu'(pre) (rounded to the
// activation dtype), then linear_backward(dpre, x, w, dx, dw, db) with its conventions.
void linear_gelu_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& pre, Tensor& dx, Tensor& dw,
                          Tensor& db);

namespace cuda {
// A linear layer on CUDA: x [rows, in] and w [out, in] of activation dtype `dtype` (f32, bf16 or
// f16), row-major and contiguous. Every launcher runs on the current stream of `device`.
struct LinearCudaParams {
  int64_t rows = 0, in = 0, out = 0;
  DType dtype = DType::kF32;
  const void* x = nullptr;
  const void* w = nullptr;
};
// y [rows, out] = x w^T + b (b: f32 [out] or nullptr; rounded to `dtype` when that is 16-bit).
void linear_forward(const LinearCudaParams& p, const float* b, void* y, int device);
// dx [rows, in] = dy w (skipped when dx is nullptr); dw [out, in] += dy^T x (f32); db [out] +=
// column sums of dy (f32; deterministic two-pass reduction; skipped when db is nullptr).
void linear_backward(const LinearCudaParams& p, const void* dy, void* dx, float* dw, float* db, int device);
// pre = x w^T + b as linear_forward, then y = gelu(pre) (exact erf GELU, from pre as stored).
void linear_gelu_forward(const LinearCudaParams& p, const float* b, void* pre, void* y, int device);
// dpre = dy * gelu'(pre) into a scratch of `dtype`, then linear_backward(dpre, ...).
void linear_gelu_backward(const LinearCudaParams& p, const void* dy, const void* pre, void* dx, float* dw, float* db,
                          int device);
}  // namespace cuda

}  // namespace attncamp::ops
