// Fully connected layer y = x @ w^T + b on the last dimension, and its gradients.
// Both directions are GEMMs (ops/gemm.h) plus a bias broadcast or column sum (ops/bias_add.h).
#pragma once

#include "runtime/tensor.h"

namespace attncamp::ops {

// y[..., out] = x[..., in] @ w[out, in]^T + b[out]. x is viewed as [N, in] (N = numel / in) and
// y must have x's leading dims with last dim out. b may be undefined (no bias). All tensors
// f32 or f64 (one dtype), contiguous, on one device.
void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y);
// Given dy[..., out]: dx[..., in] = dy @ w (overwritten; skipped when dx is undefined),
// dw[out, in] += dy^T @ x (accumulates), db[out] += column sums of dy (accumulates; skipped
// when db is undefined).
void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw, Tensor& db);

}  // namespace attncamp::ops
