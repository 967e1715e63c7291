// Anchor boxes of a feature map, torchvision's AnchorGenerator: at every location (y, x) of an
// fh x fw map, A = |aspect_ratios| * |sizes| anchors centred on (x * stride_w, y * stride_h) in
// input-image pixels. The cell anchors (centred on 0) are computed in f32 and rounded to whole
// pixels, as torchvision does; the grid adds the integer shifts.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace attncamp::ops {

// The zero-centred cell anchors, a CPU f32 [A,4] xyxy tensor with A = |aspect_ratios| * |sizes|,
// aspect-ratio-major: anchor r * |sizes| + s has size s and ratio r (height / width), so
// hr = sqrt(ratio), wr = 1 / hr, ws = wr * size, hs = hr * size, and the anchor is
// round((-ws / 2, -hs / 2, ws / 2, hs / 2)), all in f32, rounded half to even (torch.round).
// Sizes (pixels) and aspect ratios must be finite and > 0, and neither list empty.
Tensor cell_anchors(const std::vector<double>& sizes, const std::vector<double>& aspect_ratios);

// torchvision's stride of a feature map: image_size / map_size rounded down (pixels per cell);
// both > 0 and image_size >= map_size.
int64_t anchor_stride(int64_t image_size, int64_t map_size);

// anchors [fh * fw * A, 4] (xyxy pixels) = cell anchor a shifted by (x * stride_w, y * stride_h,
// x * stride_w, y * stride_h), at row (y * fw + x) * A + a: location-major (rows of the map, then
// columns), then the cell anchors in cell_anchors' order. The shift is converted to the dtype and
// added to the cell anchor (so f32 anchors are exact for shifts below 2^24). Dtypes: CPU f32 or
// f64; CUDA f32, at most kMaxCudaCellAnchors cell anchors. fh, fw >= 0; strides > 0. To cover
// several feature maps, fill consecutive row ranges (slices) of one tensor, level by level.
void grid_anchors(const std::vector<double>& sizes, const std::vector<double>& aspect_ratios, int64_t fh, int64_t fw,
                  int64_t stride_h, int64_t stride_w, Tensor& anchors);

inline constexpr int kMaxCudaCellAnchors = 64;

namespace cpu {
struct GridAnchorsParams {
  int64_t fh = 0, fw = 0, stride_h = 1, stride_w = 1;
  int64_t cells = 0;            // A
  const float* cell = nullptr;  // [A,4] cell anchors
};
// anchors [fh * fw * A, 4].
template <class T>
void grid_anchors(const GridAnchorsParams& p, T* anchors);
}  // namespace cpu

// CUDA launcher (ops/cuda/anchors.cu; kernel in ops/cuda/anchors.cuh), queued on the calling
// thread's current stream of `device`: the cell anchors travel in the argument struct.
namespace cuda {
struct GridAnchorsArgs {
  int64_t fh = 0, fw = 0, stride_h = 1, stride_w = 1;
  int cells = 0;
  float cell[kMaxCudaCellAnchors][4] = {};
  float* anchors = nullptr;  // [fh * fw * cells, 4]
  int device = 0;
};
void grid_anchors(const GridAnchorsArgs& a);
}  // namespace cuda

}  // namespace attncamp::ops
