// NMS kernels (launched by ops/cuda/nms.cu; the CUDA emulator runs them in
// tests/ops/emu_nms_test.cpp). Boxes are visited in sorted order (positions k = 0..m-1): score
// order, or for the per-class path score order grouped by class. The mask kernel gives each
// (row block, column block) pair of 64 boxes to 64 threads: thread t sets bit b of word
// mask[row * col_blocks + col] when box col * 64 + b comes after its box, has its class and an
// IoU above the threshold. The sweep runs the greedy pass over a segment (all boxes, or one
// class) in one thread block, 64 boxes at a time: one thread resolves the 64 boxes in order
// from their diagonal words, then all threads OR the kept rows into the later words of the
// segment's "removed" bits in shared memory. Only the kept flags leave the device.
// The kernels are static: each translation unit that includes this header (the .cu, the emulator
// test) has its own, so g++'s emulated kernels never collide with nvcc's host stubs when linked.
#pragma once

#include <cstdint>

#include "ops/cuda/dynamic_smem.cuh"
#include "ops/nms_math.h"

namespace attncamp::ops::cuda::nms_kernels {

constexpr int kBlockBoxes = 64;     // boxes per mask word
constexpr int kSweepThreads = 256;  // threads of a sweep block
constexpr int kMaxSweepBlocks = 1024;

// The class id of box i (class_ids of type i32 when class_i32, else i64).
__device__ __forceinline__ int64_t class_of(const void* class_ids, bool class_i32, int64_t i) {
  return class_i32 ? static_cast<const int32_t*>(class_ids)[i] : static_cast<const int64_t*>(class_ids)[i];
}

// Per-class path: class_keys[k] = class of box order[k], ranks[k] = k, for k < m (sorted next by
// class, stably, so each class stays in score order).
struct ClassKeysParams {
  int64_t m = 0;
  const int32_t* order = nullptr;  // [m] box indices in score order
  const void* class_ids = nullptr;
  bool class_i32 = false;
  int64_t* class_keys = nullptr;
  int32_t* ranks = nullptr;
};
static __global__ void class_keys_kernel(const ClassKeysParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < p.m; k += stride) {
    p.class_keys[k] = class_of(p.class_ids, p.class_i32, p.order[k]);
    p.ranks[k] = static_cast<int32_t>(k);
  }
}

// Box k of the visiting order is box order[ranks ? ranks[k] : k]: its corners go to sorted[k],
// its area to area[k] and (when classes is set) its class to classes[k].
struct GatherParams {
  int64_t m = 0;
  const int32_t* order = nullptr;  // [m] box indices in score order
  const int32_t* ranks = nullptr;  // [m] positions in `order`, or nullptr: k
  const float* boxes = nullptr;    // [n, 4]
  const void* class_ids = nullptr;
  bool class_i32 = false;
  float4* sorted = nullptr;
  float* area = nullptr;
  int64_t* classes = nullptr;  // or nullptr
};
static __global__ void gather_kernel(const GatherParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < p.m; k += stride) {
    const int64_t i = p.order[p.ranks != nullptr ? p.ranks[k] : k];
    const float* b = p.boxes + 4 * i;
    const float4 v = make_float4(b[0], b[1], b[2], b[3]);
    p.sorted[k] = v;
    p.area[k] = box_area(v.x, v.y, v.z, v.w);
    if (p.classes != nullptr) p.classes[k] = class_of(p.class_ids, p.class_i32, i);
  }
}

// Grid (col_blocks, col_blocks), kBlockBoxes threads. Writes mask[i * col_blocks + c] for every
// box i of row block r <= c, except, when classes_sorted, for blocks whose class ranges do not
// meet (no sweep reads those words).
struct MaskParams {
  int64_t m = 0, col_blocks = 0;
  const float4* boxes = nullptr;     // [m] in visiting order
  const float* area = nullptr;       // [m]
  const int64_t* classes = nullptr;  // [m], or nullptr: one class
  bool classes_sorted = false;       // classes ascending (per-class path)
  float threshold = 0;               // suppress when IoU > threshold
  uint64_t* mask = nullptr;          // [m, col_blocks]
};
static __global__ void __launch_bounds__(kBlockBoxes) mask_kernel(const MaskParams p) {
  const int64_t r = blockIdx.y, c = blockIdx.x;
  if (r > c) return;
  const int64_t row0 = r * kBlockBoxes, col0 = c * kBlockBoxes;
  if (p.classes_sorted) {
    const int64_t row_last = row0 + kBlockBoxes - 1 < p.m ? row0 + kBlockBoxes - 1 : p.m - 1;
    if (p.classes[col0] > p.classes[row_last]) return;
  }
  const int64_t i = row0 + threadIdx.x;
  if (i >= p.m) return;
  const float4 a = p.boxes[i];
  const float area_a = p.area[i];
  const int64_t cls = p.classes != nullptr ? p.classes[i] : 0;
  const int cols = p.m - col0 < kBlockBoxes ? static_cast<int>(p.m - col0) : kBlockBoxes;
  uint64_t bits = 0;
  for (int b = r == c ? static_cast<int>(threadIdx.x) + 1 : 0; b < cols; ++b) {
    const int64_t j = col0 + b;
    if (p.classes != nullptr && p.classes[j] != cls) continue;
    const float4 o = p.boxes[j];
    if (box_iou(a.x, a.y, a.z, a.w, area_a, o.x, o.y, o.z, o.w, p.area[j]) > p.threshold) bits |= uint64_t{1} << b;
  }
  p.mask[i * p.col_blocks + c] = bits;
}

// The sweep's shared memory for col_blocks words: removed bits, the diagonal words and kept list
// of the current 64 boxes, and their kept bits and count.
inline size_t sweep_smem_bytes(int64_t col_blocks) {
  return sizeof(uint64_t) * (static_cast<size_t>(col_blocks) + kBlockBoxes + 1) + sizeof(int32_t) * (kBlockBoxes + 1);
}

// Grid of up to kMaxSweepBlocks blocks of kSweepThreads threads, sweep_smem_bytes(col_blocks) of
// dynamic shared memory. Segments: the runs of equal classes[k] when classes_sorted, else all of
// [0, m). keep[ranks ? ranks[k] : k] is set to 1 for kept boxes, 0 for suppressed ones.
struct SweepParams {
  int64_t m = 0, col_blocks = 0;
  const uint64_t* mask = nullptr;    // [m, col_blocks] from mask_kernel
  const int64_t* classes = nullptr;  // [m] ascending (with classes_sorted)
  bool classes_sorted = false;
  const int32_t* ranks = nullptr;  // [m] positions in score order, or nullptr: k
  uint8_t* keep = nullptr;         // [m] by position in score order
};

// Index of the lowest set bit of x != 0.
__device__ __forceinline__ int lowest_bit(uint64_t x) {
#ifdef __CUDA_ARCH__
  return __ffsll(static_cast<long long>(x)) - 1;
#else
  return __builtin_ctzll(x);
#endif
}

// The greedy pass over boxes [s, e) by the whole block.
__device__ __forceinline__ void sweep_segment(const SweepParams& p, int64_t s, int64_t e) {
  unsigned char* smem = block_dynamic_smem();
  uint64_t* diag = reinterpret_cast<uint64_t*>(smem);                  // [kBlockBoxes]
  uint64_t* kept_bits = diag + kBlockBoxes;                            // [1]
  uint64_t* removed = kept_bits + 1;                                   // [words]
  int32_t* kept = reinterpret_cast<int32_t*>(removed + p.col_blocks);  // [kBlockBoxes]
  int32_t* kept_count = kept + kBlockBoxes;                            // [1]
  const int t = static_cast<int>(threadIdx.x);
  const int64_t first = s / kBlockBoxes, last = (e - 1) / kBlockBoxes, words = last - first + 1;
  for (int64_t w = t; w < words; w += blockDim.x) removed[w] = 0;
  __syncthreads();
  for (int64_t nb = first; nb <= last; ++nb) {
    const int64_t base = nb * kBlockBoxes;
    if (t < kBlockBoxes) {
      const int64_t i = base + t;
      diag[t] = i >= s && i < e ? p.mask[i * p.col_blocks + nb] : 0;
    }
    __syncthreads();
    if (t == 0) {
      // Boxes of [lo, hi) belong to the segment; the others count as removed.
      const int lo = static_cast<int>((s > base ? s : base) - base);
      const int hi = static_cast<int>((e < base + kBlockBoxes ? e : base + kBlockBoxes) - base);
      const uint64_t valid = (hi - lo == kBlockBoxes ? ~uint64_t{0} : ((uint64_t{1} << (hi - lo)) - 1)) << lo;
      uint64_t rv = removed[nb - first], bits = 0;
      int count = 0;
      // Visits only the boxes still standing: the lowest bit of `open` is the next one.
      for (uint64_t open = valid & ~rv; open != 0; open &= valid & ~rv) {
        const int b = lowest_bit(open);
        bits |= uint64_t{1} << b;
        kept[count++] = b;
        rv |= diag[b] | ((uint64_t{2} << b) - 1);  // box b and those before it are decided
      }
      *kept_bits = bits;
      *kept_count = count;
    }
    __syncthreads();
    const uint64_t bits = *kept_bits;
    const int count = *kept_count;
    if (t < kBlockBoxes) {
      const int64_t i = base + t;
      if (i >= s && i < e) p.keep[p.ranks != nullptr ? p.ranks[i] : i] = static_cast<uint8_t>((bits >> t) & 1);
    }
    // Later words: removed |= the kept rows' words (four independent loads at a time).
    for (int64_t w = nb - first + 1 + t; w < words; w += blockDim.x) {
      const uint64_t* col = p.mask + first + w;
      uint64_t acc = 0;
      int q = 0;
      for (; q + 4 <= count; q += 4) {
        const uint64_t a0 = col[(base + kept[q]) * p.col_blocks], a1 = col[(base + kept[q + 1]) * p.col_blocks];
        const uint64_t a2 = col[(base + kept[q + 2]) * p.col_blocks], a3 = col[(base + kept[q + 3]) * p.col_blocks];
        acc |= (a0 | a1) | (a2 | a3);
      }
      for (; q < count; ++q) acc |= col[(base + kept[q]) * p.col_blocks];
      removed[w] |= acc;
    }
    __syncthreads();
  }
}

// First position after s whose class differs from classes[s] (classes ascending).
__device__ __forceinline__ int64_t segment_end(const SweepParams& p, int64_t s) {
  const int64_t c = p.classes[s];
  int64_t lo = s + 1, hi = p.m;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (p.classes[mid] > c) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

static __global__ void __launch_bounds__(kSweepThreads) sweep_kernel(const SweepParams p) {
  if (!p.classes_sorted) {
    if (blockIdx.x == 0) sweep_segment(p, 0, p.m);
    return;
  }
  for (int64_t s = blockIdx.x; s < p.m; s += gridDim.x) {
    if (s > 0 && p.classes[s] == p.classes[s - 1]) continue;  // not the start of a class
    sweep_segment(p, s, segment_end(p, s));
  }
}

}  // namespace attncamp::ops::cuda::nms_kernels
