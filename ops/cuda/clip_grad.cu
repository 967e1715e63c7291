// CUDA side of gradient clipping: the in-place scale of the flat f32 gradient buffer (one
// grid-stride pass). The norm itself is ops::cuda::sum of the squares (ops/cuda/reduce.cu), whose
// fixed-order two-pass reduction keeps it deterministic and lets Inf/NaN through.
#include <cstdint>

#include "ops/clip_grad.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void scale_kernel(float* x, int64_t n, float factor) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) x[i] *= factor;
}

}  // namespace

void scale_f32(float* x, int64_t n, float factor, int device) {
  if (n == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(device);
  scale_kernel<<<::attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(x, n, factor);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace attncamp::ops::cuda
