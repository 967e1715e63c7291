// CUDA dropout with the CPU's counter-based mask (ops/dropout.h): each thread takes one Philox
// block, i.e. the 4 consecutive counters 4k..4k+3, and applies it to the elements whose counter
// offset + i falls in that block (partial blocks at both ends), grid-striding over blocks.
#include "ops/cuda/act_io.cuh"
#include "ops/dropout.h"
#include "runtime/cuda/launch.h"
#include "runtime/rng.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void dropout_kernel(const void* in, DType it, void* out, DType ot, int64_t n, float threshold, float scale,
                               uint64_t seed, uint64_t offset) {
  const uint64_t stream = static_cast<uint64_t>(RngStream::kDropout);
  const uint64_t first_block = offset >> 2;
  const auto blocks = static_cast<int64_t>(((offset + static_cast<uint64_t>(n) - 1) >> 2) - first_block + 1);
  // p == 0 (threshold 0) keeps every element: no random numbers needed.
  const bool keep_all = threshold <= 0.0f;
  for (int64_t k = grid_index(); k < blocks; k += grid_stride()) {
    const uint64_t block = first_block + static_cast<uint64_t>(k);
    const Philox4 r = keep_all ? Philox4{{0u, 0u, 0u, 0u}} : philox4x32(seed, stream, block);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint64_t counter = block * 4 + static_cast<uint64_t>(j);
      if (counter < offset || counter - offset >= static_cast<uint64_t>(n)) continue;
      const auto i = static_cast<int64_t>(counter - offset);
      const bool keep = keep_all || uint_to_unit_float(r.v[j]) >= threshold;
      store_act(out, ot, i, load_act(in, it, i) * (keep ? scale : 0.0f));
    }
  }
}

}  // namespace

void dropout_apply(const void* in, DType it, void* out, DType ot, int64_t n, float threshold, float scale,
                   uint64_t seed, uint64_t offset, int device) {
  if (n <= 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  const int64_t blocks = n / 4 + 2;  // Philox blocks touched: at most this many
  dropout_kernel<<<attncamp::cuda::grid_1d(blocks, kThreads), kThreads, 0, s>>>(in, it, out, ot, n, threshold, scale,
                                                                                seed, offset);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace attncamp::ops::cuda
