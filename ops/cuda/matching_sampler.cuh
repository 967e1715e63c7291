// Balanced sampling kernels (launched by ops/cuda/matching_sampler.cu; the CUDA emulator runs them
// in tests/ops/emu_matching_test.cpp). keys_kernel gives each candidate a 64-bit sort key, its
// kind in the top two bits (0 positive, 1 negative, 2 ignored) above its 62-bit Philox key; after
// a stable radix sort (CUB) the kinds are contiguous runs, bounds_kernel finds where each run
// starts, and select_kernel flags the first Kp positives and Kn negatives of the sorted order by
// candidate index, for the flagged selection that lists them in index order. The kernels are
// static: each translation unit that includes this header has its own, so g++'s emulated kernels
// never collide with nvcc's host stubs when linked.
#pragma once

#include <cstdint>

#include "ops/matching_sampler.h"

namespace attncamp::ops::cuda::sample_kernels {

constexpr int kThreads = 256;
constexpr int kKindShift = 62;

struct KeysParams {
  int64_t n = 0;
  const void* labels = nullptr;  // [n] i32 (labels_i32) or i64
  bool labels_i32 = false;
  uint64_t step_seed = 0, image = 0;  // sampler_step_seed(seed, step), SampleKey::image
  uint64_t* keys = nullptr;           // [n]
  int32_t* values = nullptr;          // [n] = 0..n-1
};
static __global__ void keys_kernel(const KeysParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += stride) {
    const int64_t label =
        p.labels_i32 ? static_cast<const int32_t*>(p.labels)[i] : static_cast<const int64_t*>(p.labels)[i];
    const uint64_t kind = label >= 1 ? 0 : label == 0 ? 1 : 2;
    const uint64_t key = kind < 2 ? sampler_candidate_key(p.step_seed, p.image, static_cast<uint64_t>(i)) : 0;
    p.keys[i] = kind << kKindShift | key;
    p.values[i] = static_cast<int32_t>(i);
  }
}

// starts[b] = the first sorted position whose kind is >= b (n when none), b = 0..3.
struct BoundsParams {
  int64_t n = 0;  // > 0
  const uint64_t* sorted_keys = nullptr;
  int64_t* starts = nullptr;  // [4]
};
static __global__ void bounds_kernel(const BoundsParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < p.n; k += stride) {
    const int kind = static_cast<int>(p.sorted_keys[k] >> kKindShift);
    const int prev = k > 0 ? static_cast<int>(p.sorted_keys[k - 1] >> kKindShift) : 0;
    if (k == 0) p.starts[0] = 0;
    for (int b = prev + 1; b <= kind; ++b) p.starts[b] = k;
    if (k == p.n - 1) {
      for (int b = kind + 1; b <= 3; ++b) p.starts[b] = p.n;
    }
  }
}

struct SelectParams {
  int64_t n = 0;
  const uint64_t* sorted_keys = nullptr;
  const int32_t* order = nullptr;   // [n] candidate indices in sorted order
  const int64_t* starts = nullptr;  // [4] from bounds_kernel
  int64_t max_positive = 0, batch = 0;
  uint8_t* positive = nullptr;  // [n] by candidate index: 1 when sampled
  uint8_t* negative = nullptr;  // [n]
};
static __global__ void select_kernel(const SelectParams p) {
  const int64_t positives = p.starts[1], negatives = p.starts[2] - p.starts[1];
  const int64_t kp = positives < p.max_positive ? positives : p.max_positive;
  const int64_t kn = negatives < p.batch - kp ? negatives : p.batch - kp;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < p.n; k += stride) {
    const int kind = static_cast<int>(p.sorted_keys[k] >> kKindShift);
    const int32_t i = p.order[k];
    p.positive[i] = kind == 0 && k < kp;
    p.negative[i] = kind == 1 && k - p.starts[1] < kn;
  }
}

}  // namespace attncamp::ops::cuda::sample_kernels
