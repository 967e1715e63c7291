// Fused softmax + cross-entropy with label smoothing: per-row losses and (optionally) the
// gradient with respect to the logits in one pass, computed stably through the log-sum-exp.
#pragma once

#include "runtime/tensor.h"

namespace attncamp::ops {

// logits [N,C] (f32 or f64), labels i32 [N] in [0, C) or -1 (row ignored).
// Target q = (1 - label_smoothing) * onehot(label) + label_smoothing / C.
// losses [N] (logits' dtype): losses[i] = -sum_c q_c log softmax(logits_i)_c in nats; 0 for ignored rows.
// dlogits [N,C] (logits' dtype) = grad_scale * (softmax(logits_i) - q), a zero row for ignored rows;
// pass an undefined tensor to skip it. Throws naming the row of any label outside [-1, C).
void cross_entropy_forward_backward(const Tensor& logits, const Tensor& labels, double label_smoothing,
                                    double grad_scale, Tensor& losses, Tensor& dlogits);

}  // namespace attncamp::ops
