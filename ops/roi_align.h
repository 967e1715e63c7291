// RoIAlign (He et al., Mask R-CNN) forward and backward on channels-last feature maps: each ROI is
// cut into pooled_h x pooled_w bins, each bin averages a grid of bilinearly interpolated samples.
// The semantics are torchvision's roi_align with aligned=True; the geometry is shared by the CPU
// reference and the CUDA kernels (ops/roi_align_geometry.h).
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

struct RoiAlignOptions {
  // Feature-map pixels per image pixel (1 / the level's stride, e.g. 0.25 for P2): ROI
  // coordinates are multiplied by it. Finite and > 0.
  double spatial_scale = 1.0;
  // Samples per bin along each axis; <= 0 picks the adaptive ceil(roi extent / pooled size) per
  // ROI and axis, as torchvision does. At most roi_align::kMaxSamplingGrid (1024).
  int64_t sampling_ratio = 0;
  // CUDA backward only (the CPU is always deterministic): false accumulates grad_input with float
  // atomics, as torchvision does (the summation order, and so the last bits, vary from run to
  // run); true gathers every input pixel's gradient in a fixed order (ROIs in index order, then
  // bins), bitwise reproducible. What the gather costs: no workspace and no zeroing pass, but every
  // (pixel, channel vector) of grad_input scans the whole ROI list (32 ROIs per warp-wide box
  // test) and re-derives the samples of each ROI that covers it, so its time grows with
  // pixels x ROIs where the atomic form's grows with the samples. benchmarks/gpu/roi_align_bench.cpp
  // times both (rows bwd and bwd-det; numbers in benchmarks/RESULTS.md, issue 19).
  // $ATTNCAMP_DETERMINISTIC=1 makes every call deterministic.
  bool deterministic = false;
};

// Pools every ROI of `rois` from the feature map `input`.
//
// input:  [B, H, W, C] channels-last (a ViT's tokens [B, H*W, C] viewed as a map), H, W >= 1.
// rois:   [K, 5], row k = (batch index, x1, y1, x2, y2): the batch index an integer-valued float in
//         [0, B), the box in image pixels (xyxy; scaled by spatial_scale onto the map). Boxes may
//         lie partly or wholly outside the map; x2 < x1 or y2 < y1 is allowed (with the adaptive
//         grid such a box has no samples; with a fixed one it samples backwards, as torchvision).
// output: [K, ph, pw, C] channels-last, overwritten; its shape gives the pooled size
//         (ph, pw >= 1).
//
// Semantics (torchvision, aligned=True): with (x1, y1, x2, y2) scaled and shifted by -0.5 (pixel
// i's centre is at i), bin (i, j) averages the samples at y = y1 + i * bh + (iy + 0.5) * bh / gh,
// x = x1 + j * bw + (ix + 0.5) * bw / gw, for iy < gh, ix < gw, with bh = (y2 - y1) / ph,
// bw = (x2 - x1) / pw, no rounding of the box; the divisor is max(gh * gw, 1). A sample outside
// [-1, H] x [-1, W] contributes 0; inside, coordinates below 0 are clamped to 0 and those at or
// beyond H - 1 (W - 1) read row H - 1 (column W - 1) alone.
//
// Dtypes: CPU: input, rois and output one dtype, f32 or f64; the sums are accumulated in double,
// the geometry is computed in that dtype. CUDA: input and output one activation dtype (f32, bf16 or
// f16), rois f32, computed in f32.
//
// Errors (attncamp::Error naming the op, the argument and the ROI index): a batch index that is
// not an integer in [0, B), a coordinate that is NaN or infinite (after scaling), an adaptive
// grid above kMaxSamplingGrid, and bad shapes or dtypes. On CUDA the ROIs are checked on the device
// and the call waits for that check (one stream synchronisation and 8 bytes to the host per call).
void roi_align_forward(const Tensor& input, const Tensor& rois, const RoiAlignOptions& opt, Tensor& output);

// Gradient of roi_align_forward with respect to its input.
//
// grad_output: [K, ph, pw, C]; rois: [K, 5] as for the forward; grad_input: [B, H, W, C],
// overwritten (pixels no sample reads get 0). Dtypes as for the forward (grad_output and
// grad_input one dtype). CPU: deterministic for any thread count (each (image, channel block)
// owns its slice of grad_input and adds the ROIs in index order, in double). CUDA: see
// RoiAlignOptions::deterministic; bf16 and f16 gradients are accumulated in an f32 workspace.
void roi_align_backward(const Tensor& grad_output, const Tensor& rois, const RoiAlignOptions& opt, Tensor& grad_input);

// Whether the CUDA backward must be deterministic: `requested` or $ATTNCAMP_DETERMINISTIC (1 or
// 0, unset: 0). Throws on another value of the variable.
bool resolve_roi_align_deterministic(bool requested);

namespace cpu {
// The CPU kernels' view of a call (sizes and the f32/f64 pointers); rois are checked beforehand.
template <class T>
struct RoiAlignParams {
  int64_t batch = 0, height = 0, width = 0, channels = 0;  // the feature map [B, H, W, C]
  int64_t num_rois = 0, pooled_h = 0, pooled_w = 0;        // the pooled maps [K, ph, pw, C]
  const T* rois = nullptr;                                 // [K, 5]
  T spatial_scale = 1;
  int sampling_ratio = 0;
};
// output [K, ph, pw, C] from input [B, H, W, C].
template <class T>
void roi_align_forward(const RoiAlignParams<T>& p, const T* input, T* output);
// grad_input [B, H, W, C] (overwritten) from grad_output [K, ph, pw, C].
template <class T>
void roi_align_backward(const RoiAlignParams<T>& p, const T* grad_output, T* grad_input);
}  // namespace cpu

// CUDA launchers (ops/cuda/roi_align.cu), queued on the calling thread's current stream of
// `device`. Device pointers; `act` is the dtype of the feature-map and pooled tensors (f32, bf16 or
// f16), rois are f32. Each launcher checks the ROIs on the device, waits for the check and returns
// the lowest index of a ROI that failed it, or -1 when all passed; the kernels skip failing ROIs
// (their pooled outputs are 0, they add no gradient), so no access leaves the tensors.
namespace cuda {
struct RoiAlignShape {
  int64_t batch = 0, height = 0, width = 0, channels = 0;
  int64_t num_rois = 0, pooled_h = 0, pooled_w = 0;
  float spatial_scale = 1;
  int sampling_ratio = 0;
};

struct RoiAlignForwardArgs {
  RoiAlignShape shape;
  DType act = DType::kF32;
  const float* rois = nullptr;  // [K, 5]
  const void* input = nullptr;  // [B, H, W, C]
  void* output = nullptr;       // [K, ph, pw, C]
  int device = 0;
};
int64_t roi_align_forward(const RoiAlignForwardArgs& a);

struct RoiAlignBackwardArgs {
  RoiAlignShape shape;
  DType act = DType::kF32;
  const float* rois = nullptr;        // [K, 5]
  const void* grad_output = nullptr;  // [K, ph, pw, C]
  void* grad_input = nullptr;         // [B, H, W, C], overwritten
  bool deterministic = false;         // gather per pixel instead of atomics
  int device = 0;
};
int64_t roi_align_backward(const RoiAlignBackwardArgs& a);
}  // namespace cuda

}  // namespace attncamp::ops
