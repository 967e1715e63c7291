// Kernels of top-k selection (ops/cuda/nms_topk.cu), whose score order NMS and the sampler also
// use: the sort keys of the scores (ops/nms_math.h) with their indices, for CUB's radix sort, and
// the widening of i32 index lists into the i64 results. The CUDA emulator runs them in
// tests/ops/emu_nms_test.cpp.
// The kernels are static: each translation unit that includes this header (the .cu, the emulator
// test) has its own, so g++'s emulated kernels never collide with nvcc's host stubs when linked.
#pragma once

#include <cstdint>

#include "ops/nms_math.h"

namespace attncamp::ops::cuda::nms_kernels {

// keys[i] = score_key(scores[i]), values[i] = i, for i < n.
struct KeysParams {
  int64_t n = 0;
  const float* scores = nullptr;
  uint32_t* keys = nullptr;
  int32_t* values = nullptr;
};
static __global__ void keys_kernel(const KeysParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += stride) {
    p.keys[i] = score_key(p.scores[i]);
    p.values[i] = static_cast<int32_t>(i);
  }
}

// out[k] = in[k] widened, for k < n.
struct WidenParams {
  int64_t n = 0;
  const int32_t* in = nullptr;
  int64_t* out = nullptr;
};
static __global__ void widen_kernel(const WidenParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < p.n; k += stride) {
    p.out[k] = p.in[k];
  }
}

}  // namespace attncamp::ops::cuda::nms_kernels
