// The detectors' losses, per element (reduction is the caller's): smooth L1 on box deltas (fvcore's
// smooth_l1_loss, torchvision's detection heads), the GIoU loss on boxes (fvcore's giou_loss,
// torchvision's generalized_box_iou_loss) and the sigmoid focal loss on class logits
// (torchvision.ops.sigmoid_focal_loss). Each backward computes
//   dx = grad_scale * dloss * dloss_i/dx,
// dloss the per-element gradient arriving from the reduction (an undefined tensor means all ones,
// the gradient of grad_scale * sum(loss)), the way ops/cross_entropy.h scales its gradient.
//
// Dtypes: CPU f32 or f64 (one dtype per call, computed in double); CUDA f32 (computed in f32).
// Non-finite inputs give non-finite losses and gradients (nothing is validated per call; boxes are
// checked at data boundaries by check_boxes, ops/boxes.h).
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// Below this beta the smooth L1 loss is the L1 loss (fvcore's rule; torchvision's heads use 1/9).
inline constexpr double kSmoothL1MinBeta = 1e-5;
// fvcore's and torchvision's eps of the GIoU loss.
inline constexpr double kGiouLossEps = 1e-7;

// loss = smooth_l1(input - target) elementwise, with n = |input - target|:
//   beta < kSmoothL1MinBeta: n;   else: n < beta ? 0.5 n^2 / beta : n - 0.5 beta.
// input, target, loss: one shape (any), contiguous; beta finite and >= 0. loss may alias input.
void smooth_l1_loss_forward(const Tensor& input, const Tensor& target, double beta, Tensor& loss);
// dinput = grad_scale * dloss * d loss / d input: (input - target) / beta where n < beta, else
// sign(input - target) (0 where input == target). dloss: loss's shape or undefined; dinput may
// alias dloss or input.
void smooth_l1_loss_backward(const Tensor& dloss, const Tensor& input, const Tensor& target, double beta,
                             double grad_scale, Tensor& dinput);

// loss [N] = 1 - GIoU(boxes[i], target[i]) for xyxy boxes [N,4] and target [N,4], fvcore's form:
//   inter = (min x2 - max x1) * (min y2 - max y1) where both differences are > 0, else 0;
//   union = area + area_target - inter; iou = inter / (union + eps);
//   C = (max x2 - min x1) * (max y2 - min y1) (the enclosing box, not clamped);
//   loss = 1 - iou + (C - union) / (C + eps).
// So two equal empty boxes give 1, not NaN. eps >= 0 (kGiouLossEps in fvcore). Boxes with x2 < x1
// enter the formula as they are (check_boxes at data boundaries).
void giou_loss_forward(const Tensor& boxes, const Tensor& target, double eps, Tensor& loss);
// dboxes [N,4] = grad_scale * dloss[i] * d loss_i / d boxes[i] (the target gets none). Where a
// coordinate ties with the target's in a min or max, each side gets half the gradient (PyTorch's
// maximum/minimum rule), and where the boxes do not overlap (inter = 0) none flows through inter.
// dloss: [N] or undefined.
void giou_loss_backward(const Tensor& dloss, const Tensor& boxes, const Tensor& target, double eps, double grad_scale,
                        Tensor& dboxes);

// loss = alpha_t * ce * (1 - p_t)^gamma elementwise for logits x and targets t in [0, 1] (one
// shape, any): p = sigmoid(x), ce = binary cross-entropy with logits (nats), p_t = p t + (1 - p)
// (1 - t), alpha_t = alpha t + (1 - alpha) (1 - t), or 1 when alpha < 0 (torchvision's "no
// weighting"). 1 - p_t is computed as t sigmoid(-x) + (1 - t) sigmoid(x), which stays accurate for
// saturated logits. alpha <= 1; gamma finite and >= 0 (torchvision's defaults 0.25 and 2). loss may
// alias logits.
void sigmoid_focal_loss_forward(const Tensor& logits, const Tensor& targets, double alpha, double gamma, Tensor& loss);
// dlogits = grad_scale * dloss * d loss / d x = grad_scale * dloss * alpha_t * ((p - t) m^gamma +
// gamma ce m^(gamma - 1) p (1 - p) (1 - 2t)), m = 1 - p_t; the second term is 0 where gamma = 0 or
// m = 0 (its limit). dloss: the logits' shape or undefined; dlogits may alias dloss or logits.
void sigmoid_focal_loss_backward(const Tensor& dloss, const Tensor& logits, const Tensor& targets, double alpha,
                                 double gamma, double grad_scale, Tensor& dlogits);

namespace cpu {
// Elementwise losses over n elements.
template <class T>
struct ElementLossParams {
  int64_t n = 0;
  const T* x = nullptr;       // input or logits
  const T* target = nullptr;  // same count
  const T* dloss = nullptr;   // backward: upstream gradient, or nullptr for ones
  double a = 0, b = 0;        // smooth L1: beta; focal: alpha, gamma
  double grad_scale = 1;
};
template <class T>
void smooth_l1_loss_forward(const ElementLossParams<T>& p, T* loss);
template <class T>
void smooth_l1_loss_backward(const ElementLossParams<T>& p, T* dx);
template <class T>
void sigmoid_focal_loss_forward(const ElementLossParams<T>& p, T* loss);
template <class T>
void sigmoid_focal_loss_backward(const ElementLossParams<T>& p, T* dx);
// n box pairs, x and target [n,4]; a = eps.
template <class T>
void giou_loss_forward(const ElementLossParams<T>& p, T* loss);
template <class T>
void giou_loss_backward(const ElementLossParams<T>& p, T* dboxes);
}  // namespace cpu

// CUDA launchers (ops/cuda/detection_loss.cu; kernels in ops/cuda/detection_loss.cuh), queued on
// the calling thread's current stream of `device`. Device pointers, f32.
namespace cuda {
enum class DetectionLoss { kSmoothL1, kSigmoidFocal, kGiou };
struct DetectionLossArgs {
  DetectionLoss loss = DetectionLoss::kSmoothL1;
  int64_t n = 0;                  // elements (GIoU: box pairs)
  const float* x = nullptr;       // input, logits or boxes
  const float* target = nullptr;  // same layout as x
  const float* dloss = nullptr;   // backward: [n] upstream gradient or nullptr for ones
  float a = 0, b = 0;             // smooth L1: beta; focal: alpha, gamma; GIoU: eps
  float grad_scale = 1;
  int device = 0;
};
// out: the losses [n] (forward) or the gradient, x's layout (backward).
void detection_loss_forward(const DetectionLossArgs& a, float* loss);
void detection_loss_backward(const DetectionLossArgs& a, float* dx);
}  // namespace cuda

}  // namespace attncamp::ops
