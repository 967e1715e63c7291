// RoIAlign's sampling geometry, one definition for the CPU reference (ops/cpu/roi_align.cpp) and
// the CUDA kernels (ops/cuda/roi_align.cuh): the ROI checks, its bins and sampling grid, sample
// positions and the bilinear taps of one axis, as torchvision's roi_align with aligned=True
// computes them (same expressions in the same order, in the ROI's dtype T). On the GPU the f32
// products and sums are rounded one by one (no fused multiply-add), so the kernels sample at
// exactly the positions the CPU reference does.
#pragma once

#include <math.h>

#include <cstdint>

#ifdef __CUDACC__
#define ATTNCAMP_ROI_HD __host__ __device__ __forceinline__
#else
#define ATTNCAMP_ROI_HD inline
#endif

namespace attncamp::ops::roi_align {

// Largest sampling grid per bin and axis: a fixed sampling_ratio, or the adaptive
// ceil(roi extent / pooled size). Larger grids are rejected (the adaptive grid of a box tens of
// thousands of feature-map pixels across, a corrupt box, would take hours and overflow int).
constexpr int kMaxSamplingGrid = 1024;

// Why a ROI cannot be pooled (kOk: it can).
enum class RoiProblem : int {
  kOk = 0,
  kBatchIndex,   // rois[k, 0] is not an integer in [0, batch)
  kNotFinite,    // a coordinate is NaN or infinite after spatial_scale
  kGridTooLarge  // adaptive sampling grid above kMaxSamplingGrid
};

// a * b + c, each operation rounded (never contracted to a fused multiply-add on the GPU).
ATTNCAMP_ROI_HD float mul_add_rn(float a, float b, float c) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(__fmul_rn(a, b), c);
#else
  return a * b + c;
#endif
}
ATTNCAMP_ROI_HD double mul_add_rn(double a, double b, double c) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(__dmul_rn(a, b), c);
#else
  return a * b + c;
#endif
}
ATTNCAMP_ROI_HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
ATTNCAMP_ROI_HD double mul_rn(double a, double b) { return a * b; }

// A ROI's bins in feature-map pixel coordinates (pixel centres at integer + 0.5 before the
// half-pixel shift, so pixel i's centre is at i here).
template <class T>
struct RoiBins {
  T start_y = 0, start_x = 0;  // top-left corner: y1 * scale - 0.5, x1 * scale - 0.5
  T bin_h = 0, bin_w = 0;      // (y2 - y1) * scale / pooled_h, (x2 - x1) * scale / pooled_w (may be < 0)
  int grid_h = 0, grid_w = 0;  // samples per bin along y and x; <= 0: none (the bin pools to 0)
  T count = 1;                 // the divisor of the average: max(grid_h * grid_w, 1)
};

// The scaled corners of rois[k] (row `roi`: batch index, x1, y1, x2, y2): x1, y1, x2, y2 times
// scale, minus the half-pixel offset.
template <class T>
struct RoiCorners {
  T x1, y1, x2, y2;
};
template <class T>
ATTNCAMP_ROI_HD RoiCorners<T> roi_corners(const T* roi, T scale) {
  const T offset = static_cast<T>(0.5);
  return {mul_rn(roi[1], scale) - offset, mul_rn(roi[2], scale) - offset, mul_rn(roi[3], scale) - offset,
          mul_rn(roi[4], scale) - offset};
}

// ceil(extent / pooled) as torchvision computes the adaptive grid (in T), before conversion.
template <class T>
ATTNCAMP_ROI_HD T adaptive_grid(T extent, int pooled) {
  return ceil(extent / static_cast<T>(pooled));
}

// What is wrong with ROI `roi` for a feature map of `batch` images, or kOk.
template <class T>
ATTNCAMP_ROI_HD RoiProblem roi_problem(const T* roi, int64_t batch, T scale, int pooled_h, int pooled_w,
                                       int sampling_ratio) {
  const T b = roi[0];
  if (!(b >= 0 && b < static_cast<T>(batch) && floor(b) == b)) return RoiProblem::kBatchIndex;
  const RoiCorners<T> c = roi_corners(roi, scale);
  if (!(isfinite(c.x1) && isfinite(c.y1) && isfinite(c.x2) && isfinite(c.y2))) return RoiProblem::kNotFinite;
  if (sampling_ratio <= 0) {
    const T max_grid = static_cast<T>(kMaxSamplingGrid);
    // Written as !(<=) so that an extent overflowing to infinity, or NaN, is caught too.
    if (!(adaptive_grid(c.y2 - c.y1, pooled_h) <= max_grid && adaptive_grid(c.x2 - c.x1, pooled_w) <= max_grid)) {
      return RoiProblem::kGridTooLarge;
    }
  }
  return RoiProblem::kOk;
}

// The bins and sampling grid of a ROI that passed roi_problem.
template <class T>
ATTNCAMP_ROI_HD RoiBins<T> roi_bins(const T* roi, T scale, int pooled_h, int pooled_w, int sampling_ratio) {
  const RoiCorners<T> c = roi_corners(roi, scale);
  const T roi_h = c.y2 - c.y1, roi_w = c.x2 - c.x1;
  RoiBins<T> r;
  r.start_y = c.y1;
  r.start_x = c.x1;
  r.bin_h = roi_h / static_cast<T>(pooled_h);
  r.bin_w = roi_w / static_cast<T>(pooled_w);
  r.grid_h = sampling_ratio > 0 ? sampling_ratio : static_cast<int>(adaptive_grid(roi_h, pooled_h));
  r.grid_w = sampling_ratio > 0 ? sampling_ratio : static_cast<int>(adaptive_grid(roi_w, pooled_w));
  const int n = r.grid_h * r.grid_w;
  r.count = static_cast<T>(n > 1 ? n : 1);
  return r;
}

// Position of sample i (of `grid`) of bin p along one axis:
// start + p * bin + (i + 0.5) * bin / grid, evaluated left to right as torchvision does.
template <class T>
ATTNCAMP_ROI_HD T sample_position(T start, T bin, int p, int i, int grid) {
  return mul_add_rn(static_cast<T>(p), bin, start) +
         mul_rn(static_cast<T>(static_cast<float>(i) + 0.5f), bin) / static_cast<T>(grid);
}

// The two pixels a sample reads along one axis and their weights (lo == hi at the far border,
// where w_hi is 0).
template <class T>
struct AxisTaps {
  int lo = 0, hi = 0;
  T w_lo = 0, w_hi = 0;
};

// Taps of a sample at `pos` on an axis of `size` pixels; false when the sample lies outside
// [-1, size] (or is NaN) and contributes 0. Positions in [-1, 0] read pixel 0 alone, positions at
// or beyond size - 1 pixel size - 1 alone.
template <class T>
ATTNCAMP_ROI_HD bool axis_taps(T pos, int size, AxisTaps<T>& t) {
  if (!(pos >= static_cast<T>(-1) && pos <= static_cast<T>(size))) return false;
  if (pos <= 0) pos = 0;
  t.lo = static_cast<int>(pos);
  if (t.lo >= size - 1) {
    t.lo = t.hi = size - 1;
    pos = static_cast<T>(t.lo);
  } else {
    t.hi = t.lo + 1;
  }
  t.w_hi = pos - static_cast<T>(t.lo);
  t.w_lo = static_cast<T>(1) - t.w_hi;
  return true;
}

}  // namespace attncamp::ops::roi_align
