// Box coding of the two-stage and dense detectors, torchvision's BoxCoder: a target box is encoded
// relative to a reference box (an anchor or a proposal) as deltas (dx, dy, dw, dh) scaled by
// weights (wx, wy, ww, wh), and decoded back, with dw and dh clamped before the exponential. Also
// the gradient of decoding with respect to the deltas, for losses on decoded boxes (GIoU).
//
// With reference box (widths w = x2 - x1, h = y2 - y1, centre cx = x1 + w / 2, cy = y1 + h / 2)
// and target box (tw, th, tcx, tcy likewise):
//   encode: dx = wx (tcx - cx) / w, dy = wy (tcy - cy) / h, dw = ww log(tw / w), dh = wh log(th / h)
//   decode: pcx = dx / wx * w + cx, pcy = dy / wy * h + cy,
//           pw = exp(min(dw / ww, clip)) * w, ph = exp(min(dh / wh, clip)) * h,
//           box = (pcx - pw / 2, pcy - ph / 2, pcx + pw / 2, pcy + ph / 2).
// box_encode(reference, target) is torchvision's BoxCoder.encode_single(target, reference) (its
// first argument is the matched ground truth, its second the anchors or proposals) and
// box_decode_forward(deltas, reference) its decode_single(deltas, reference).
//
// Degenerate boxes are not checked (check_boxes at data boundaries, ops/boxes.h): a reference box
// with zero width or height gives inf or NaN deltas in encode, and a target box with zero width
// gives dw = -inf, as in torchvision; decode is finite for finite deltas and reference boxes.
//
// Dtypes: CPU f32 or f64 (one dtype per call, computed in double); CUDA f32 (computed in f32).
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// The deltas' weights: torchvision's Faster R-CNN box head uses (10, 10, 5, 5); its RPN and
// RetinaNet (1, 1, 1, 1). Each must be > 0.
struct BoxCoderWeights {
  double wx = 1, wy = 1, ww = 1, wh = 1;
};

// torchvision's bbox_xform_clip, log(1000 / 16): decoded boxes are at most 62.5 times the
// reference box's width and height.
inline constexpr double kBoxDecodeClip = 4.135166556742356;

// deltas [N,4] = the encoding of target [N,4] relative to reference [N,4] (xyxy, row i with row i).
// Computed in double on the CPU.
void box_encode(const Tensor& reference, const Tensor& target, const BoxCoderWeights& weights, Tensor& deltas);

// boxes [N,4K] (xyxy) = deltas [N,4K] decoded relative to reference [N,4]: row i holds K boxes
// (one per class, as a box head predicts them), each decoded against reference box i. dw / ww and
// dh / wh are clamped at `clip` from above (kBoxDecodeClip by default in torchvision), with the
// clamp rounded to the deltas' dtype. `boxes` must not alias `deltas`.
void box_decode_forward(const Tensor& deltas, const Tensor& reference, const BoxCoderWeights& weights, double clip,
                        Tensor& boxes);

// ddeltas [N,4K] (overwritten) = the gradient through box_decode_forward of a loss whose gradient
// with respect to the decoded boxes is dboxes [N,4K]. Where dw / ww > clip (the clamp is active)
// the dw gradient is 0 (likewise dh), as autograd's clamp gives; at dw / ww == clip it passes.
// The reference boxes get no gradient. `ddeltas` may alias `dboxes`.
void box_decode_backward(const Tensor& dboxes, const Tensor& deltas, const Tensor& reference,
                         const BoxCoderWeights& weights, double clip, Tensor& ddeltas);

namespace cpu {
template <class T>
struct BoxCodingParams {
  int64_t n = 0;                 // rows
  int64_t k = 1;                 // boxes per row (deltas and decoded boxes are [n, 4k])
  const T* reference = nullptr;  // [n,4]
  double wx = 1, wy = 1, ww = 1, wh = 1;
  double clip = kBoxDecodeClip;
};
// deltas[n,4] from target[n,4] (k must be 1).
template <class T>
void box_encode(const BoxCodingParams<T>& p, const T* target, T* deltas);
template <class T>
void box_decode_forward(const BoxCodingParams<T>& p, const T* deltas, T* boxes);
template <class T>
void box_decode_backward(const BoxCodingParams<T>& p, const T* dboxes, const T* deltas, T* ddeltas);
}  // namespace cpu

// CUDA launchers (ops/cuda/box_coding.cu; kernels in ops/cuda/box_coding.cuh), queued on the
// calling thread's current stream of `device`. Device pointers, f32.
namespace cuda {
struct BoxCodingArgs {
  int64_t n = 0, k = 1;
  const float* reference = nullptr;  // [n,4]
  float wx = 1, wy = 1, ww = 1, wh = 1;
  float clip = static_cast<float>(kBoxDecodeClip);
  int device = 0;
};
void box_encode(const BoxCodingArgs& a, const float* target, float* deltas);
void box_decode_forward(const BoxCodingArgs& a, const float* deltas, float* boxes);
void box_decode_backward(const BoxCodingArgs& a, const float* dboxes, const float* deltas, float* ddeltas);
}  // namespace cuda

}  // namespace attncamp::ops
