// Helpers for kernel launchers (CUDA translation units only): the stream to launch on (the
// calling thread's current stream, with the device made current) and 1-D grid sizing.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "runtime/cuda/check.h"
#include "runtime/cuda_context.h"

namespace attncamp::cuda {

// Makes `device` current and returns the calling thread's current stream on it.
inline cudaStream_t launch_stream(int device) {
  ATTNCAMP_CUDA_CHECK(cudaSetDevice(device));
  return static_cast<cudaStream_t>(current_cuda_stream(device));
}

// Blocks for a grid-stride loop over n elements with `threads` per block (capped so huge
// tensors do not launch millions of blocks; at least one block).
inline unsigned grid_1d(int64_t n, int threads, int64_t max_blocks = 65536) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(b, max_blocks)));
}

}  // namespace attncamp::cuda
