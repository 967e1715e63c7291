// CUDA softmax over the last dimension and its gradient: one warp per row (rows grid-strided
// over the warps of the grid). Lane l handles columns l, l+32, ...; the row max and sums are
// f32 warp reductions (butterfly shuffles), so every lane ends with the same value.
#include <cmath>

#include "ops/cuda/act_io.cuh"
#include "ops/softmax.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 4;

__device__ __forceinline__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ int64_t warp_index() {
  return static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
}
__device__ __forceinline__ int64_t warp_stride() { return static_cast<int64_t>(gridDim.x) * kWarpsPerBlock; }

__global__ void softmax_forward_kernel(const void* x, DType xt, void* y, DType yt, int64_t rows, int64_t cols) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  for (int64_t r = warp_index(); r < rows; r += warp_stride()) {
    const int64_t base = r * cols;
    float mx = -INFINITY;
    for (int64_t c = lane; c < cols; c += kWarp) mx = fmaxf(mx, load_act(x, xt, base + c));
    mx = warp_max(mx);
    if (mx == -INFINITY) mx = 0.0f;  // a fully masked row gives zeros, not NaN
    float sum = 0.0f;
    for (int64_t c = lane; c < cols; c += kWarp) sum += expf(load_act(x, xt, base + c) - mx);
    sum = warp_sum(sum);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int64_t c = lane; c < cols; c += kWarp) store_act(y, yt, base + c, expf(load_act(x, xt, base + c) - mx) * inv);
  }
}

__global__ void softmax_backward_kernel(const void* y, DType yt, const void* dy, DType dyt, void* dx, DType dxt,
                                        int64_t rows, int64_t cols) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  for (int64_t r = warp_index(); r < rows; r += warp_stride()) {
    const int64_t base = r * cols;
    float dot = 0.0f;
    for (int64_t c = lane; c < cols; c += kWarp) dot += load_act(y, yt, base + c) * load_act(dy, dyt, base + c);
    dot = warp_sum(dot);
    for (int64_t c = lane; c < cols; c += kWarp) {
      store_act(dx, dxt, base + c, load_act(y, yt, base + c) * (load_act(dy, dyt, base + c) - dot));
    }
  }
}

}  // namespace

void softmax_forward(const void* x, DType xt, void* y, DType yt, int64_t rows, int64_t cols, int device) {
  if (rows == 0 || cols == 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  softmax_forward_kernel<<<attncamp::cuda::grid_1d(rows, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0, s>>>(x, xt, y, yt,
                                                                                                          rows, cols);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void softmax_backward(const void* y, DType yt, const void* dy, DType dyt, void* dx, DType dxt, int64_t rows,
                      int64_t cols, int device) {
  if (rows == 0 || cols == 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  softmax_backward_kernel<<<attncamp::cuda::grid_1d(rows, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0, s>>>(
      y, yt, dy, dyt, dx, dxt, rows, cols);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace attncamp::ops::cuda
