// CUDA kernels of the box ops (ops/boxes.h), f32, included by ops/cuda/boxes.cu and run on the CPU
// by tests/ops/emu_boxes_test.cpp through the CUDA emulator. Pairwise IoU, conversions and
// clipping are grid-stride loops with one output element or box per thread. The small-box keep
// list and the first-invalid-box search work in per-warp chunks with warp shuffles only (no shared
// memory): count per chunk, one warp turns the counts into offsets, then each chunk writes its
// indices in order, so the keep list is ascending and deterministic.
// The kernels are static: each translation unit including this header (the launcher, the
// emulator test) holds its own copy.
#pragma once

#include <cstdint>

#include "ops/boxes.h"

namespace attncamp::ops::cuda::boxes {

constexpr int kThreads = 256;  // threads per block, but for the one-warp scan and final kernels
constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kItems = 8;                            // boxes per lane in a keep-list chunk
constexpr int64_t kChunk = int64_t{kWarp} * kItems;  // boxes per warp chunk (lane l: l*kItems ..)

// The chunks of n boxes, and the blocks of kThreads that hold one warp per chunk.
inline int64_t chunk_count(int64_t n) { return (n + kChunk - 1) / kChunk; }
inline int64_t chunk_blocks(int64_t n) { return (chunk_count(n) + kThreads / kWarp - 1) / (kThreads / kWarp); }

__device__ __forceinline__ float fmin2(float a, float b) { return b < a ? b : a; }
__device__ __forceinline__ float fmax2(float a, float b) { return a < b ? b : a; }

// IoU (or GIoU) of boxes p and q (xyxy), as ops/boxes.h defines it for degenerate boxes.
__device__ __forceinline__ float pair_iou(const float* p, const float* q, bool generalized) {
  const float area_p = (p[2] - p[0]) * (p[3] - p[1]);
  const float area_q = (q[2] - q[0]) * (q[3] - q[1]);
  float iw = fmin2(p[2], q[2]) - fmax2(p[0], q[0]), ih = fmin2(p[3], q[3]) - fmax2(p[1], q[1]);
  iw = iw < 0 ? 0.0f : iw;
  ih = ih < 0 ? 0.0f : ih;
  const float inter = iw * ih;
  const float uni = area_p + area_q - inter;
  float v = uni <= 0 ? 0.0f : inter / uni;
  if (generalized) {
    float cw = fmax2(p[2], q[2]) - fmin2(p[0], q[0]), ch = fmax2(p[3], q[3]) - fmin2(p[1], q[1]);
    cw = cw < 0 ? 0.0f : cw;
    ch = ch < 0 ? 0.0f : ch;
    const float c = cw * ch;
    if (!(c <= 0)) v -= (c - uni) / c;
  }
  return v;
}

struct IouParams {
  int64_t n = 0, m = 0;
  const float* a = nullptr;  // [n,4]
  const float* b = nullptr;  // [m,4]
  float* out = nullptr;      // [n,m]
  bool generalized = false;
};

// out[i][j] for every (i, j), j fastest across the threads (coalesced stores).
static __global__ void __launch_bounds__(kThreads) iou_kernel(const IouParams p) {
  const int64_t total = p.n * p.m;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += step) {
    const int64_t i = e / p.m, j = e % p.m;
    p.out[e] = pair_iou(p.a + 4 * i, p.b + 4 * j, p.generalized);
  }
}

struct ConvertParams {
  int64_t n = 0;
  const float* in = nullptr;  // [n,4]
  float* out = nullptr;       // [n,4], may be `in`
  BoxFormat from = BoxFormat::kXyxy, to = BoxFormat::kXyxy;
};

// One box per thread; each thread reads its box before writing it (in place is safe).
static __global__ void __launch_bounds__(kThreads) convert_kernel(const ConvertParams p) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += step) {
    float v[4] = {p.in[4 * i], p.in[4 * i + 1], p.in[4 * i + 2], p.in[4 * i + 3]};
    if (p.from != p.to && p.from == BoxFormat::kXywh) {
      v[2] = v[0] + v[2];
      v[3] = v[1] + v[3];
    } else if (p.from != p.to && p.from == BoxFormat::kCxcywh) {
      const float cx = v[0], cy = v[1], w = v[2], h = v[3];
      v[0] = cx - 0.5f * w;
      v[1] = cy - 0.5f * h;
      v[2] = cx + 0.5f * w;
      v[3] = cy + 0.5f * h;
    }
    if (p.from != p.to && p.to == BoxFormat::kXywh) {
      v[2] = v[2] - v[0];
      v[3] = v[3] - v[1];
    } else if (p.from != p.to && p.to == BoxFormat::kCxcywh) {
      const float x1 = v[0], y1 = v[1], x2 = v[2], y2 = v[3];
      v[0] = (x1 + x2) / 2;
      v[1] = (y1 + y2) / 2;
      v[2] = x2 - x1;
      v[3] = y2 - y1;
    }
    for (int k = 0; k < 4; ++k) p.out[4 * i + k] = v[k];
  }
}

struct ClipParams {
  int64_t n = 0;
  const float* in = nullptr;  // [n,4]
  float* out = nullptr;       // [n,4], may be `in`
  float height = 0, width = 0;
};

// One coordinate per thread: x (even) to [0, width], y (odd) to [0, height]; NaN stays NaN.
static __global__ void __launch_bounds__(kThreads) clip_kernel(const ClipParams p) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < 4 * p.n; i += step) {
    const float hi = i % 2 == 0 ? p.width : p.height;
    const float v = p.in[i];
    p.out[i] = v < 0 ? 0.0f : (v > hi ? hi : v);
  }
}

struct SmallBoxParams {
  int64_t n = 0;
  const float* boxes = nullptr;  // [n,4]
  float min_size = 0;
};

__device__ __forceinline__ bool keep_box(const SmallBoxParams& p, int64_t i) {
  const float* b = p.boxes + 4 * i;
  const float w = b[2] - b[0], h = b[3] - b[1];
  return w >= p.min_size && h >= p.min_size;
}

// Inclusive prefix sum of v over the warp's lanes (lane 31 holds the warp's total).
__device__ __forceinline__ int warp_inclusive_sum(int v, int lane) {
  for (int o = 1; o < kWarp; o *= 2) {
    const int t = __shfl_sync(kFullMask, v, lane >= o ? lane - o : lane);
    if (lane >= o) v += t;
  }
  return v;
}

// Global warp number (the warp's chunk) and lane of the calling thread.
__device__ __forceinline__ int64_t warp_id() {
  return (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
}
__device__ __forceinline__ int lane_id() { return static_cast<int>(threadIdx.x % kWarp); }

// counts[c] = boxes kept in chunk c (grid: chunk_blocks(n) blocks of kThreads).
static __global__ void __launch_bounds__(kThreads) small_box_count_kernel(const SmallBoxParams p, int64_t* counts) {
  const int64_t chunk = warp_id();
  const int lane = lane_id();
  const int64_t begin = chunk * kChunk + lane * kItems;
  int kept = 0;
  for (int k = 0; k < kItems; ++k) {
    const int64_t i = begin + k;
    if (i < p.n && keep_box(p, i)) ++kept;
  }
  const int total = warp_inclusive_sum(kept, lane);
  if (lane == kWarp - 1 && chunk * kChunk < p.n) counts[chunk] = total;
}

// One warp: offsets[c] = sum of counts[0..c) for c < chunks, and *total = the sum of them all.
// May run in place (offsets == counts).
static __global__ void __launch_bounds__(kWarp)
    scan_counts_kernel(const int64_t* counts, int64_t chunks, int64_t* offsets, int64_t* total) {
  const int lane = lane_id();
  int64_t carry = 0;
  for (int64_t base = 0; base < chunks; base += kWarp) {
    const int64_t c = base + lane;
    const int count = c < chunks ? static_cast<int>(counts[c]) : 0;  // <= kChunk
    const int incl = warp_inclusive_sum(count, lane);
    if (c < chunks) offsets[c] = carry + (incl - count);
    carry += __shfl_sync(kFullMask, incl, kWarp - 1);
  }
  if (lane == 0) *total = carry;
}

// keep[offsets[c] + r] = the index of chunk c's r-th kept box, in ascending order.
static __global__ void __launch_bounds__(kThreads)
    small_box_scatter_kernel(const SmallBoxParams p, const int64_t* offsets, int64_t* keep) {
  const int64_t chunk = warp_id();
  const int lane = lane_id();
  const int64_t begin = chunk * kChunk + lane * kItems;
  unsigned flags = 0;
  int kept = 0;
  for (int k = 0; k < kItems; ++k) {
    const int64_t i = begin + k;
    if (i < p.n && keep_box(p, i)) {
      flags |= 1u << k;
      ++kept;
    }
  }
  const int incl = warp_inclusive_sum(kept, lane);
  if (chunk * kChunk >= p.n) return;  // after the warp's shuffles
  int64_t at = offsets[chunk] + (incl - kept);
  for (int k = 0; k < kItems; ++k) {
    if (flags & (1u << k)) keep[at++] = begin + k;
  }
}

struct CheckParams {
  int64_t n = 0;
  const float* boxes = nullptr;  // [n,4]
};

__device__ __forceinline__ bool bad_box(const float* b) {
  const bool finite = isfinite(b[0]) && isfinite(b[1]) && isfinite(b[2]) && isfinite(b[3]);
  return !finite || b[2] < b[0] || b[3] < b[1];
}

// The smaller of two 64-bit values across the warp, returned to every lane.
__device__ __forceinline__ int64_t warp_min(int64_t v) {
  for (int o = kWarp / 2; o > 0; o /= 2) {
    const unsigned lo = __shfl_xor_sync(kFullMask, static_cast<unsigned>(static_cast<uint64_t>(v)), o);
    const unsigned hi = __shfl_xor_sync(kFullMask, static_cast<unsigned>(static_cast<uint64_t>(v) >> 32), o);
    const int64_t w = static_cast<int64_t>((static_cast<uint64_t>(hi) << 32) | lo);
    v = w < v ? w : v;
  }
  return v;
}

// partial[warp] = the smallest index of an invalid box among the warp's grid-stride items, or n
// (any grid of kThreads-thread blocks; partial holds one value per warp of the grid).
static __global__ void __launch_bounds__(kThreads) first_bad_partial_kernel(const CheckParams p, int64_t* partial) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t first = p.n;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += step) {
    if (bad_box(p.boxes + 4 * i)) {
      first = i;  // a thread's indices increase: its first hit is its smallest
      break;
    }
  }
  first = warp_min(first);
  if (lane_id() == 0) partial[warp_id()] = first;
}

// One warp: *out = the smallest of partial[0..parts).
static __global__ void __launch_bounds__(kWarp)
    first_bad_final_kernel(const int64_t* partial, int64_t parts, int64_t none, int64_t* out) {
  int64_t first = none;
  for (int64_t k = lane_id(); k < parts; k += kWarp) first = partial[k] < first ? partial[k] : first;
  first = warp_min(first);
  if (lane_id() == 0) *out = first;
}

}  // namespace attncamp::ops::cuda::boxes
