// Global gradient-norm clipping over the flat gradient buffer (torch.nn.utils.clip_grad_norm_
// with the L2 norm), with a norm that is bitwise reproducible whatever the thread count.
#pragma once

#include "runtime/tensor.h"

namespace attncamp::ops {

// L2 norm of all elements of flat (f32 or f64, contiguous), accumulated in double over fixed
// 4096-element chunks whose partial sums are added in order.
double global_norm(const Tensor& flat);

// Returns the norm before clipping. If it exceeds max_norm (> 0), scales flat in place by
// max_norm / (norm + 1e-6), PyTorch's coefficient. A non-finite norm is returned and nothing is scaled.
double clip_grad_norm_(Tensor& flat, double max_norm);

}  // namespace attncamp::ops
