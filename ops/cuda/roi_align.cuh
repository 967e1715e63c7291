// CUDA RoIAlign kernels, included by ops/cuda/roi_align.cu and, compiled by g++, by the CUDA
// emulator's test (tests/ops/emu_roi_align_test.cpp). A prepare kernel checks every ROI and stores
// its geometry (ops/roi_align_geometry.h) once; the forward and the atomic backward give each
// thread one (ROI, bin, kVec-channel vector), so a warp reads consecutive channels of the same
// pixels (channels-last); the deterministic backward gives each thread one (pixel, channel
// vector) and gathers the ROIs that sample it in index order, a warp first filtering 32 ROIs at a
// time against the pixels it covers. All arithmetic in f32. Everything here has internal linkage
// (an unnamed namespace), so the emulator test's host versions of the kernels and the library's
// CUDA ones never meet in one link.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "ops/cuda/act_io.cuh"
#include "ops/roi_align.h"
#include "ops/roi_align_geometry.h"

namespace attncamp::ops::cuda::roi {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int64_t kMaxBlocks = 65536;  // grid-stride loops beyond this
constexpr unsigned long long kNoBadRoi = ~0ull;

// Blocks of kThreads for a grid-stride loop over n items (at least one).
inline unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

// A ROI as the kernels read it, written by prepare_kernel.
struct RoiGeom {
  int batch = -1;              // image index; -1: the ROI failed the check and is skipped
  int grid_h = 0, grid_w = 0;  // samples per bin along y and x (<= 0: none)
  float start_y = 0, start_x = 0, bin_h = 0, bin_w = 0;
  float count = 1;                       // divisor of a bin's average
  int y0 = 0, y1 = -1, x0 = 0, x1 = -1;  // pixels its samples may read, a superset (y1 < y0: none)
};

struct PrepareParams {
  const float* rois = nullptr;  // [K, 5]
  int64_t num_rois = 0, batch = 0;
  int height = 0, width = 0, pooled_h = 0, pooled_w = 0, sampling_ratio = 0;
  float spatial_scale = 1;
  RoiGeom* geom = nullptr;                  // [K]
  unsigned long long* first_bad = nullptr;  // lowest failing ROI index (kNoBadRoi before the launch)
};

// [lo, hi]: a superset of the pixels read by samples between positions a and b (the first and
// last of an axis; positions are monotonic in the sample index) on an axis of `size` pixels, with
// one pixel of margin for rounding. Empty (hi < lo) when both lie on one side of [-1, size] or
// either is NaN.
__device__ __forceinline__ void pixel_span(float a, float b, int size, int& lo, int& hi) {
  const float mn = a < b ? a : b, mx = a < b ? b : a;
  lo = 0;
  hi = -1;
  if (!(mx >= -1.0f && mn <= static_cast<float>(size))) return;
  const int l = static_cast<int>(floorf(mn > 0.0f ? mn : 0.0f)) - 1;
  const int h = static_cast<int>(floorf(mx < static_cast<float>(size) ? mx : static_cast<float>(size))) + 2;
  lo = l < 0 ? 0 : l;
  hi = h > size - 1 ? size - 1 : h;
}

// One thread per ROI: the check of ops/roi_align_geometry.h, then the bins and the pixel box.
__global__ void __launch_bounds__(kThreads) prepare_kernel(const PrepareParams p) {
  for (int64_t k = grid_index(); k < p.num_rois; k += grid_stride()) {
    const float* roi = p.rois + k * 5;
    RoiGeom g;
    if (roi_align::roi_problem(roi, p.batch, p.spatial_scale, p.pooled_h, p.pooled_w, p.sampling_ratio) !=
        roi_align::RoiProblem::kOk) {
      atomicMin(p.first_bad, static_cast<unsigned long long>(k));
    } else {
      const roi_align::RoiBins<float> r =
          roi_align::roi_bins(roi, p.spatial_scale, p.pooled_h, p.pooled_w, p.sampling_ratio);
      g.batch = static_cast<int>(roi[0]);
      g.grid_h = r.grid_h;
      g.grid_w = r.grid_w;
      g.start_y = r.start_y;
      g.start_x = r.start_x;
      g.bin_h = r.bin_h;
      g.bin_w = r.bin_w;
      g.count = r.count;
      if (r.grid_h > 0 && r.grid_w > 0) {
        pixel_span(roi_align::sample_position(r.start_y, r.bin_h, 0, 0, r.grid_h),
                   roi_align::sample_position(r.start_y, r.bin_h, p.pooled_h - 1, r.grid_h - 1, r.grid_h), p.height,
                   g.y0, g.y1);
        pixel_span(roi_align::sample_position(r.start_x, r.bin_w, 0, 0, r.grid_w),
                   roi_align::sample_position(r.start_x, r.bin_w, p.pooled_w - 1, r.grid_w - 1, r.grid_w), p.width,
                   g.x0, g.x1);
      }
    }
    p.geom[k] = g;
  }
}

// kVec consecutive elements moved as one aligned access.
template <class T, int kVec>
struct alignas(sizeof(T) * kVec) Pack {
  T v[kVec];
};

template <class T, int kVec>
__device__ __forceinline__ void load_vec(const T* p, float (&out)[kVec]) {
  const Pack<T, kVec> pk = *reinterpret_cast<const Pack<T, kVec>*>(p);
#pragma unroll
  for (int j = 0; j < kVec; ++j) out[j] = to_f32(pk.v[j]);
}

template <class T, int kVec>
__device__ __forceinline__ void store_vec(T* p, const float (&in)[kVec]) {
  Pack<T, kVec> pk;
#pragma unroll
  for (int j = 0; j < kVec; ++j) pk.v[j] = from_f32<T>(in[j]);
  *reinterpret_cast<Pack<T, kVec>*>(p) = pk;
}

// Sizes shared by the pooling kernels; the feature map is [batch, height, width, channels], the
// pooled tensor [num_rois, pooled_h, pooled_w, channels], channels a multiple of the kernel's kVec.
struct Dims {
  int64_t batch = 0, channels = 0, num_rois = 0;
  int height = 0, width = 0, pooled_h = 0, pooled_w = 0;
};

// The kernels' sizes of a launcher's call (host code, shared with the emulator test).
inline Dims dims_of(const RoiAlignShape& s) {
  Dims d;
  d.batch = s.batch;
  d.channels = s.channels;
  d.num_rois = s.num_rois;
  d.height = static_cast<int>(s.height);
  d.width = static_cast<int>(s.width);
  d.pooled_h = static_cast<int>(s.pooled_h);
  d.pooled_w = static_cast<int>(s.pooled_w);
  return d;
}

// The prepare kernel's parameters for a call (host code, shared with the emulator test).
inline PrepareParams prepare_params(const RoiAlignShape& s, const float* rois, RoiGeom* geom,
                                    unsigned long long* first_bad) {
  PrepareParams p;
  p.rois = rois;
  p.num_rois = s.num_rois;
  p.batch = s.batch;
  p.height = static_cast<int>(s.height);
  p.width = static_cast<int>(s.width);
  p.pooled_h = static_cast<int>(s.pooled_h);
  p.pooled_w = static_cast<int>(s.pooled_w);
  p.sampling_ratio = s.sampling_ratio;
  p.spatial_scale = s.spatial_scale;
  p.geom = geom;
  p.first_bad = first_bad;
  return p;
}

// (ROI, bin row, bin column, channel vector) of item i of the pooled tensor.
struct BinItem {
  int64_t k, cv;
  int ph, pw;
};
__device__ __forceinline__ BinItem bin_item(const Dims& d, int64_t cvecs, int64_t i) {
  BinItem b;
  b.cv = i % cvecs;
  int64_t rest = i / cvecs;
  b.pw = static_cast<int>(rest % d.pooled_w);
  rest /= d.pooled_w;
  b.ph = static_cast<int>(rest % d.pooled_h);
  b.k = rest / d.pooled_h;
  return b;
}

// Calls f(corners, w1, w2, w3, w4) for every valid sample of bin (ph, pw) of ROI g, in
// torchvision's order (iy, then ix): corners.offset is the element offset of the sample's top-left
// pixel (y_lo, x_lo) in an image [H, W, C]; its four pixels are at offset, + dx, + dy and + dy + dx
// (dx, dy: 0 at the far border, else one column and one row), with the bilinear weights w1..w4.
struct Corners {
  int64_t offset, dx, dy;
};
template <class F>
__device__ __forceinline__ void for_each_sample(const RoiGeom& g, const Dims& d, int ph, int pw, F&& f) {
  for (int iy = 0; iy < g.grid_h; ++iy) {
    roi_align::AxisTaps<float> ty;
    if (!roi_align::axis_taps(roi_align::sample_position(g.start_y, g.bin_h, ph, iy, g.grid_h), d.height, ty)) {
      continue;
    }
    for (int ix = 0; ix < g.grid_w; ++ix) {
      roi_align::AxisTaps<float> tx;
      if (!roi_align::axis_taps(roi_align::sample_position(g.start_x, g.bin_w, pw, ix, g.grid_w), d.width, tx)) {
        continue;
      }
      Corners c;
      c.offset = (static_cast<int64_t>(ty.lo) * d.width + tx.lo) * d.channels;
      c.dx = static_cast<int64_t>(tx.hi - tx.lo) * d.channels;
      c.dy = static_cast<int64_t>(ty.hi - ty.lo) * d.width * d.channels;
      f(c, ty.w_lo * tx.w_lo, ty.w_lo * tx.w_hi, ty.w_hi * tx.w_lo, ty.w_hi * tx.w_hi);
    }
  }
}

template <class T>
struct ForwardParams {
  Dims d;
  const RoiGeom* geom = nullptr;
  const T* input = nullptr;  // [B, H, W, C]
  T* output = nullptr;       // [K, ph, pw, C]
};

// output[k, ph, pw, c..c+kVec) = the average of bin (ph, pw)'s samples (0 for a skipped ROI).
template <class T, int kVec>
__global__ void __launch_bounds__(kThreads) forward_kernel(const ForwardParams<T> p) {
  const Dims& d = p.d;
  const int64_t cvecs = d.channels / kVec;
  const int64_t total = d.num_rois * d.pooled_h * d.pooled_w * cvecs;
  for (int64_t i = grid_index(); i < total; i += grid_stride()) {
    const BinItem it = bin_item(d, cvecs, i);
    const RoiGeom g = p.geom[it.k];
    float acc[kVec];
#pragma unroll
    for (int j = 0; j < kVec; ++j) acc[j] = 0.0f;
    if (g.batch >= 0) {
      const T* img = p.input + static_cast<int64_t>(g.batch) * d.height * d.width * d.channels + it.cv * kVec;
      for_each_sample(g, d, it.ph, it.pw, [&](const Corners& c, float w1, float w2, float w3, float w4) {
        float v1[kVec], v2[kVec], v3[kVec], v4[kVec];
        load_vec<T, kVec>(img + c.offset, v1);
        load_vec<T, kVec>(img + c.offset + c.dx, v2);
        load_vec<T, kVec>(img + c.offset + c.dy, v3);
        load_vec<T, kVec>(img + c.offset + c.dy + c.dx, v4);
#pragma unroll
        for (int j = 0; j < kVec; ++j) acc[j] += w1 * v1[j] + w2 * v2[j] + w3 * v3[j] + w4 * v4[j];
      });
#pragma unroll
      for (int j = 0; j < kVec; ++j) acc[j] /= g.count;
    }
    store_vec<T, kVec>(p.output + i * kVec, acc);
  }
}

template <class T>
struct BackwardParams {
  Dims d;
  const RoiGeom* geom = nullptr;
  const T* grad_output = nullptr;  // [K, ph, pw, C]
  float* accum = nullptr;          // atomic form: [B, H, W, C] f32, zeroed before the launch
  T* grad_input = nullptr;         // deterministic form: [B, H, W, C], every element written
};

// Atomic form: adds every sample's share of grad_output[k, ph, pw, c..c+kVec) to its four pixels.
template <class T, int kVec>
__global__ void __launch_bounds__(kThreads) backward_atomic_kernel(const BackwardParams<T> p) {
  const Dims& d = p.d;
  const int64_t cvecs = d.channels / kVec;
  const int64_t total = d.num_rois * d.pooled_h * d.pooled_w * cvecs;
  for (int64_t i = grid_index(); i < total; i += grid_stride()) {
    const BinItem it = bin_item(d, cvecs, i);
    const RoiGeom g = p.geom[it.k];
    if (g.batch < 0) continue;
    float go[kVec];
    load_vec<T, kVec>(p.grad_output + i * kVec, go);
#pragma unroll
    for (int j = 0; j < kVec; ++j) go[j] /= g.count;
    float* img = p.accum + static_cast<int64_t>(g.batch) * d.height * d.width * d.channels + it.cv * kVec;
    for_each_sample(g, d, it.ph, it.pw, [&](const Corners& c, float w1, float w2, float w3, float w4) {
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        atomicAdd(img + c.offset + j, w1 * go[j]);
        atomicAdd(img + c.offset + c.dx + j, w2 * go[j]);
        atomicAdd(img + c.offset + c.dy + j, w3 * go[j]);
        atomicAdd(img + c.offset + c.dy + c.dx + j, w4 * go[j]);
      }
    });
  }
}

// The weight with which pixel `at` (a row or column) takes part in bin p's samples along one
// axis (the sum of its bilinear weights over the bin's valid samples); false when no valid sample
// of the bin reads it.
__device__ __forceinline__ bool axis_share(float start, float bin, int p, int grid, int size, int at, float& w) {
  bool reads = false;
  w = 0.0f;
  for (int i = 0; i < grid; ++i) {
    roi_align::AxisTaps<float> t;
    if (!roi_align::axis_taps(roi_align::sample_position(start, bin, p, i, grid), size, t)) continue;
    if (t.lo == at) {
      w += t.w_lo;
      reads = true;
    }
    if (t.hi == at) {
      w += t.w_hi;
      reads = true;
    }
  }
  return reads;
}

// A feature-map pixel.
struct Pixel {
  int64_t b;
  int y, x;
};
__device__ __forceinline__ Pixel pixel_of(const Dims& d, int64_t cvecs, int64_t item) {
  const int64_t pix = item / cvecs;
  Pixel q;
  q.x = static_cast<int>(pix % d.width);
  q.y = static_cast<int>((pix / d.width) % d.height);
  q.b = pix / (static_cast<int64_t>(d.width) * d.height);
  return q;
}

// acc += ROI k's gradient at pixel q, channels cv * kVec.., bins in row-major order.
template <class T, int kVec>
__device__ __forceinline__ void gather_roi(const BackwardParams<T>& p, int64_t k, const Pixel& q, int64_t cv,
                                           float (&acc)[kVec]) {
  const Dims& d = p.d;
  const RoiGeom g = p.geom[k];
  if (g.batch != q.b || q.y < g.y0 || q.y > g.y1 || q.x < g.x0 || q.x > g.x1) return;
  const T* go = p.grad_output + k * d.pooled_h * d.pooled_w * d.channels + cv * kVec;
  for (int ph = 0; ph < d.pooled_h; ++ph) {
    float wy;
    if (!axis_share(g.start_y, g.bin_h, ph, g.grid_h, d.height, q.y, wy)) continue;
    for (int pw = 0; pw < d.pooled_w; ++pw) {
      float wx;
      if (!axis_share(g.start_x, g.bin_w, pw, g.grid_w, d.width, q.x, wx)) continue;
      const float w = wy * wx / g.count;
      float v[kVec];
      load_vec<T, kVec>(go + (static_cast<int64_t>(ph) * d.pooled_w + pw) * d.channels, v);
#pragma unroll
      for (int j = 0; j < kVec; ++j) acc[j] += w * v[j];
    }
  }
}

// Deterministic form: grad_input[b, y, x, c..c+kVec) = the sum over ROIs in index order of their
// gradient at the pixel. Warp-uniform loop: the warp's 32 items are consecutive (pixel, channel
// vector) pairs; each step of 32 ROIs, lane l tests ROI k0 + l against the box of the warp's
// pixels and an OR over the warp (shuffles) gives the ROIs any lane may need.
template <class T, int kVec>
__global__ void __launch_bounds__(kThreads) backward_gather_kernel(const BackwardParams<T> p) {
  const Dims& d = p.d;
  const int64_t cvecs = d.channels / kVec;
  const int64_t total = d.batch * d.height * d.width * cvecs;
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  const int64_t warp = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  for (int64_t base = warp * kWarp; base < total; base += warps * kWarp) {
    const int64_t item = base + lane;
    const bool active = item < total;
    const Pixel q = pixel_of(d, cvecs, active ? item : total - 1);
    const Pixel first = pixel_of(d, cvecs, base);
    const Pixel last = pixel_of(d, cvecs, base + kWarp - 1 < total ? base + kWarp - 1 : total - 1);
    int by0 = 0, by1 = d.height - 1, bx0 = 0, bx1 = d.width - 1;
    if (first.b == last.b) {
      by0 = first.y;
      by1 = last.y;
      if (first.y == last.y) {
        bx0 = first.x;
        bx1 = last.x;
      }
    }
    float acc[kVec];
#pragma unroll
    for (int j = 0; j < kVec; ++j) acc[j] = 0.0f;
    for (int64_t k0 = 0; k0 < d.num_rois; k0 += kWarp) {
      bool hit = false;
      if (k0 + lane < d.num_rois) {
        const RoiGeom g = p.geom[k0 + lane];
        hit = g.batch >= first.b && g.batch <= last.b && g.y0 <= by1 && g.y1 >= by0 && g.x0 <= bx1 && g.x1 >= bx0;
      }
      unsigned mask = hit ? 1u << lane : 0u;
#pragma unroll
      for (int o = kWarp / 2; o > 0; o >>= 1) mask |= __shfl_xor_sync(0xffffffffu, mask, o);
      for (int j = 0; mask != 0u; ++j, mask >>= 1) {
        if ((mask & 1u) != 0u && active) gather_roi<T, kVec>(p, k0 + j, q, item % cvecs, acc);
      }
    }
    if (active) store_vec<T, kVec>(p.grad_input + item * kVec, acc);
  }
}

// dst[i] = src[i] rounded to T (the atomic form's f32 workspace into a 16-bit gradient).
template <class T>
__global__ void __launch_bounds__(kThreads) round_kernel(const float* src, T* dst, int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) dst[i] = from_f32<T>(src[i]);
}

}  // namespace
}  // namespace attncamp::ops::cuda::roi
