// Proposal matching kernels (launched by ops/cuda/matching.cu; the CUDA emulator runs them in
// tests/ops/emu_matching_test.cpp). highest_kernel: grid (chunks of P, G); each warp takes the
// largest quality of its lanes' elements of one ground-truth row and folds it into highest[g]
// with an atomic max on an order-preserving integer key (max is order-independent, so the result
// is deterministic). match_kernel: one thread per proposal walks its column as the CPU reference
// does. The kernels are static: each translation unit that includes this header has its own, so
// g++'s emulated kernels never collide with nvcc's host stubs when linked.
#pragma once

#include <cstdint>

namespace attncamp::ops::cuda::match_kernels {

constexpr int kThreads = 256;
constexpr int kHighestPerThread = 8;  // elements of a row per thread of highest_kernel

// Order-preserving key of a float for unsigned atomic max: larger numbers give larger keys, and
// NaN gives 0, below every number ("no quality yet").
__device__ __forceinline__ uint32_t quality_key(float v) {
  if (v != v) return 0;
  const uint32_t u = __float_as_uint(v);
  return (u & 0x80000000u) != 0 ? ~u : u | 0x80000000u;
}
__device__ __forceinline__ float quality_from_key(uint32_t key) {
  if (key == 0) return __uint_as_float(0x7FC00000u);
  return __uint_as_float((key & 0x80000000u) != 0 ? key & 0x7FFFFFFFu : ~key);
}

struct HighestParams {
  int64_t gts = 0, proposals = 0;
  const float* iou = nullptr;   // [gts, proposals]
  uint32_t* highest = nullptr;  // [gts] keys, zeroed before the launch
};
// Grid (ceil(P / (kThreads * kHighestPerThread)), G), kThreads threads.
static __global__ void __launch_bounds__(kThreads) highest_kernel(const HighestParams p) {
  const int64_t g = blockIdx.y;
  const float* row = p.iou + g * p.proposals;
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * kThreads * kHighestPerThread + threadIdx.x;
  uint32_t best = 0;
  for (int e = 0; e < kHighestPerThread; ++e) {
    const int64_t j = begin + static_cast<int64_t>(e) * kThreads;
    if (j < p.proposals) best = max(best, quality_key(row[j]));
  }
  for (int o = 16; o > 0; o >>= 1) best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
  if (threadIdx.x % 32 == 0 && best != 0) atomicMax(p.highest + g, best);
}

struct MatchParams {
  int64_t gts = 0, proposals = 0;
  const float* iou = nullptr;
  const uint32_t* highest = nullptr;  // [gts] from highest_kernel, or nullptr: no low-quality matches
  float high = 0, low = 0;
  int64_t* matches = nullptr;  // [proposals]
};
static __global__ void __launch_bounds__(kThreads) match_kernel(const MatchParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < p.proposals; j += stride) {
    int64_t best = -1;
    float best_value = 0;
    bool ties_a_highest = false;
    for (int64_t g = 0; g < p.gts; ++g) {
      const float v = p.iou[g * p.proposals + j];
      if (v == v && (best < 0 || v > best_value)) {
        best = g;
        best_value = v;
      }
      if (p.highest != nullptr) ties_a_highest |= v == quality_from_key(p.highest[g]);
    }
    int64_t m = best;
    if (best < 0 || best_value < p.low) {
      m = -1;  // kMatchBackground
    } else if (best_value < p.high) {
      m = -2;  // kMatchIgnored
    }
    p.matches[j] = ties_a_highest ? best : m;
  }
}

}  // namespace attncamp::ops::cuda::match_kernels
