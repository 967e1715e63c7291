// Layer normalisation over the last dimension: y = (x - mean) * rstd * gamma + beta, with
// rstd = 1 / sqrt(var + eps) (biased variance), and its gradients; also the pre-norm residual
// form y = LN(x + residual) in one pass. The per-row mean and rstd are saved by the forward pass
// for the backward pass.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// x, y: [..., C] viewed as [N, C]; gamma, beta: [C]; mean, rstd: [N] (outputs); contiguous, on
// one device. CPU: all one dtype (f32 or f64), statistics accumulated in double. CUDA: x and y
// one activation dtype (f32, bf16 or f16), gamma, beta, mean and rstd f32, computed in f32.
void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& y, Tensor& mean,
                       Tensor& rstd);
// dy, x, dx: [..., C]; gamma, dgamma, dbeta: [C]; mean, rstd: [N] from the forward pass.
// dx is overwritten; dgamma += sum_rows dy * xhat and dbeta += sum_rows dy accumulate. The
// sums are deterministic (fixed row chunks, reduced in a fixed order). Dtypes as for the forward
// pass (on CUDA dy and dx have x's dtype, dgamma and dbeta are f32).
void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta);

// Residual add fused with layer norm (pre-norm transformer: h = x + residual; y = LN(h)).
// x, residual, sum_out, y: [..., C]; sum_out = x + residual (rounded to the dtype) and
// y = layernorm(sum_out); gamma, beta, mean, rstd and dtypes as for layernorm_forward. sum_out
// may be the same tensor as x or residual (updated in place).
void add_layernorm_forward(const Tensor& x, const Tensor& residual, const Tensor& gamma, const Tensor& beta, double eps,
                           Tensor& sum_out, Tensor& y, Tensor& mean, Tensor& rstd);
// Backward of add_layernorm_forward: dx_total = (layernorm_backward's dx with x = sum_out) +
// dsum_in, the gradient arriving along the residual stream (undefined = zero). dx_total is the
// gradient of both x and residual; it may be the same tensor as dsum_in. dgamma and dbeta
// accumulate as in layernorm_backward. Shapes and dtypes as for layernorm_backward.
void add_layernorm_backward(const Tensor& dy, const Tensor& dsum_in, const Tensor& sum_out, const Tensor& gamma,
                            const Tensor& mean, const Tensor& rstd, Tensor& dx_total, Tensor& dgamma, Tensor& dbeta);

namespace cpu {
template <class T>
struct LayerNormParams {
  int64_t rows = 0, cols = 0;
  const T* x = nullptr;       // [rows, cols]
  const T* gamma = nullptr;   // [cols]
  const T* beta = nullptr;    // [cols] (forward only)
  T* mean = nullptr;          // [rows] (written by forward, read by backward)
  T* rstd = nullptr;          // [rows]
  const T* dx_add = nullptr;  // [rows, cols] or nullptr (backward only): added to dx; may alias dx
  double eps = 1e-5;
};
// y[rows, cols] = layernorm(x); writes mean and rstd.
template <class T>
void layernorm_forward(const LayerNormParams<T>& p, T* y);
// dx overwritten from dy (plus dx_add when set); dgamma and dbeta accumulate.
template <class T>
void layernorm_backward(const LayerNormParams<T>& p, const T* dy, T* dx, T* dgamma, T* dbeta);
}  // namespace cpu

// CUDA launchers (ops/cuda/layernorm.cu), queued on the calling thread's current stream of
// `device`. Device pointers; activations have dtype `act` (f32, bf16 or f16), the rest is f32.
namespace cuda {
struct LayerNormForwardArgs {
  int64_t rows = 0, cols = 0;
  DType act = DType::kF32;
  const void* x = nullptr;         // [rows, cols]
  const void* residual = nullptr;  // [rows, cols] or nullptr; when set, sum_out = x + residual is normalised
  void* sum_out = nullptr;         // [rows, cols] (with residual only); may alias x or residual
  const float* gamma = nullptr;    // [cols]
  const float* beta = nullptr;     // [cols]
  void* y = nullptr;               // [rows, cols]
  float* mean = nullptr;           // [rows]
  float* rstd = nullptr;           // [rows]
  float eps = 1e-5f;
  int device = 0;
};
void layernorm_forward(const LayerNormForwardArgs& a);

struct LayerNormBackwardArgs {
  int64_t rows = 0, cols = 0;
  DType act = DType::kF32;
  const void* dy = nullptr;      // [rows, cols]
  const void* x = nullptr;       // [rows, cols] (the normalised input: x, or sum_out of the residual form)
  const void* dx_add = nullptr;  // [rows, cols] or nullptr: added to dx; may alias dx
  const float* gamma = nullptr;  // [cols]
  const float* mean = nullptr;   // [rows]
  const float* rstd = nullptr;   // [rows]
  void* dx = nullptr;            // [rows, cols], overwritten
  float* dgamma = nullptr;       // [cols], accumulated
  float* dbeta = nullptr;        // [cols], accumulated
  int device = 0;
};
void layernorm_backward(const LayerNormBackwardArgs& a);
}  // namespace cuda

}  // namespace attncamp::ops
