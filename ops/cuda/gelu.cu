// CUDA exact GELU and its gradient: grid-stride loops, one element per thread per step, in f32
// with the CUDA math library's erff and expf (a few ulp, like the CPU f32 approximations).
#include "ops/cuda/act_io.cuh"
#include "ops/gelu.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

__global__ void gelu_forward_kernel(const void* x, DType xt, void* y, DType yt, int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) {
    const float v = load_act(x, xt, i);
    store_act(y, yt, i, 0.5f * v * (1.0f + erff(v * kInvSqrt2)));
  }
}

__global__ void gelu_backward_kernel(const void* x, DType xt, const void* dy, DType dyt, void* dx, DType dxt,
                                     int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) {
    const float v = load_act(x, xt, i);
    const float cdf = 0.5f * (1.0f + erff(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
    store_act(dx, dxt, i, load_act(dy, dyt, i) * (cdf + v * pdf));
  }
}

}  // namespace

void gelu_forward(const void* x, DType xt, void* y, DType yt, int64_t n, int device) {
  if (n == 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  gelu_forward_kernel<<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(x, xt, y, yt, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void gelu_backward(const void* x, DType xt, const void* dy, DType dyt, void* dx, DType dxt, int64_t n, int device) {
  if (n == 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  gelu_backward_kernel<<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(x, xt, dy, dyt, dx, dxt, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace attncamp::ops::cuda
