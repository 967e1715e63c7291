// Layer normalisation over the last dimension: y = (x - mean) * rstd * gamma + beta, with
// rstd = 1 / sqrt(var + eps) (biased variance), and its gradients. The per-row mean and
// rstd are saved by the forward pass for the backward pass.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// x, y: [..., C] viewed as [N, C]; gamma, beta: [C]; mean, rstd: [N] (outputs). All the same
// dtype (f32 or f64), contiguous, on one device. Statistics are accumulated in double.
void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& y, Tensor& mean,
                       Tensor& rstd);
// dy, x, dx: [..., C]; gamma, dgamma, dbeta: [C]; mean, rstd: [N] from the forward pass.
// dx is overwritten; dgamma += sum_rows dy * xhat and dbeta += sum_rows dy accumulate. The
// sums are deterministic (fixed row chunks, reduced in a fixed order).
void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta);

namespace cpu {
template <class T>
struct LayerNormParams {
  int64_t rows = 0, cols = 0;
  const T* x = nullptr;      // [rows, cols]
  const T* gamma = nullptr;  // [cols]
  const T* beta = nullptr;   // [cols] (forward only)
  T* mean = nullptr;         // [rows] (written by forward, read by backward)
  T* rstd = nullptr;         // [rows]
  double eps = 1e-5;
};
// y[rows, cols] = layernorm(x); writes mean and rstd.
template <class T>
void layernorm_forward(const LayerNormParams<T>& p, T* y);
// dx overwritten from dy; dgamma and dbeta accumulate.
template <class T>
void layernorm_backward(const LayerNormParams<T>& p, const T* dy, T* dx, T* dgamma, T* dbeta);
}  // namespace cpu

}  // namespace attncamp::ops
