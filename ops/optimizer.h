// Optimizer steps over flat parameter buffers, matching torch.optim.AdamW and torch.optim.SGD
// (dampening 0) element for element. Weight decay applies where the mask is nonzero.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

struct AdamWParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  int64_t step = 1;  // 1-based count of steps, including this one (bias correction)
};

// params, grads, m, v: same shape (flat [n]), f32 or f64, contiguous; wd_mask u8 of that shape
// (nonzero = decay this element; an undefined mask decays every element). Per element:
//   param *= 1 - lr*wd (masked); m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
//   param -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
void adamw_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const Tensor& wd_mask, const AdamWParams& p);

struct SgdParams {
  double lr = 0.1, momentum = 0, weight_decay = 0;
  bool nesterov = false;
};

// Shapes as for adamw_step; momentum_buf may be undefined when momentum == 0. Per element:
//   g = grad + wd*param (masked); if momentum != 0: buf = first_step ? g : momentum*buf + g,
//   g = nesterov ? g + momentum*buf : buf; param -= lr*g.
void sgd_step(Tensor& params, const Tensor& grads, Tensor& momentum_buf, const Tensor& wd_mask, const SgdParams& p,
              bool first_step);

}  // namespace attncamp::ops
