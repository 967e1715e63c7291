// Optimizer steps over flat parameter buffers, matching torch.optim.AdamW and torch.optim.SGD
// (dampening 0) element for element. Weight decay applies where the mask is nonzero.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

struct AdamWParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  int64_t step = 1;         // 1-based count of steps, including this one (bias correction)
  double grad_scale = 1.0;  // gradients are multiplied by it before use (undoes dynamic loss scaling)
};

// params, grads, m, v: same shape (flat [n]), contiguous; f32 or f64 on the CPU, f32 on CUDA;
// wd_mask u8 of that shape (nonzero = decay this element; an undefined mask decays every
// element). Per element, with g = grad * grad_scale:
//   param *= 1 - lr*wd (masked); m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
//   param -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
// compute_copy (optional, same numel, contiguous, on params' device): receives the updated
// params rounded to its dtype (bf16 or f16, or f32/f64 on the CPU), e.g. the weights the
// low-precision GEMMs read in mixed-precision training.
void adamw_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const Tensor& wd_mask, const AdamWParams& p,
                Tensor* compute_copy = nullptr);

struct SgdParams {
  double lr = 0.1, momentum = 0, weight_decay = 0;
  bool nesterov = false;
  double grad_scale = 1.0;  // gradients are multiplied by it before use
};

// Shapes, dtypes and compute_copy as for adamw_step; momentum_buf may be undefined when
// momentum == 0. Per element:
//   g = grad*grad_scale + wd*param (masked); if momentum != 0: buf = first_step ? g : momentum*buf + g,
//   g = nesterov ? g + momentum*buf : buf; param -= lr*g.
void sgd_step(Tensor& params, const Tensor& grads, Tensor& momentum_buf, const Tensor& wd_mask, const SgdParams& p,
              bool first_step, Tensor* compute_copy = nullptr);

// CUDA launchers (ops/cuda/optimizer.cu): one elementwise kernel over the flat f32 buffers on
// the calling thread's current stream of `device`. Coefficients come precomputed by the host
// exactly as the CPU kernels use them, and the per-element arithmetic follows the CPU's order.
namespace cuda {
struct AdamWArgs {
  int64_t n = 0;
  float* params = nullptr;
  const float* grads = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  const uint8_t* wd_mask = nullptr;  // nullptr: decay every element
  void* compute_copy = nullptr;      // nullptr, or n elements of copy_dtype (f32, bf16 or f16)
  DType copy_dtype = DType::kBF16;
  float decay = 1, beta1 = 0, beta2 = 0, eps = 0, step_size = 0, bias2_sqrt = 1, grad_scale = 1;
  int device = 0;
};
void adamw_step(const AdamWArgs& a);

struct SgdArgs {
  int64_t n = 0;
  float* params = nullptr;
  const float* grads = nullptr;
  float* buf = nullptr;  // momentum buffer; nullptr when momentum == 0
  const uint8_t* wd_mask = nullptr;
  void* compute_copy = nullptr;
  DType copy_dtype = DType::kBF16;
  float lr = 0, momentum = 0, weight_decay = 0, grad_scale = 1;
  bool nesterov = false, first_step = false;
  int device = 0;
};
void sgd_step(const SgdArgs& a);
}  // namespace cuda

}  // namespace attncamp::ops
