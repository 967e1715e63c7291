// CUDA element-wise kernels (add, in-place add and scale, tanh and its gradient): one
// grid-stride loop per op, one element per thread per step; each operand is read and written
// in its own dtype (ops/cuda/act_io.cuh) and the arithmetic is f32.
#include "ops/cuda/act_io.cuh"
#include "ops/elementwise.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void add_kernel(const void* a, DType at, const void* b, DType bt, void* out, DType ot, int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) {
    store_act(out, ot, i, load_act(a, at, i) + load_act(b, bt, i));
  }
}

__global__ void scale_kernel(void* y, DType yt, float s, int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) store_act(y, yt, i, load_act(y, yt, i) * s);
}

__global__ void tanh_forward_kernel(const void* x, DType xt, void* y, DType yt, int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) store_act(y, yt, i, tanhf(load_act(x, xt, i)));
}

__global__ void tanh_backward_kernel(const void* y, DType yt, const void* dy, DType dyt, void* dx, DType dxt,
                                     int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) {
    const float v = load_act(y, yt, i);
    store_act(dx, dxt, i, load_act(dy, dyt, i) * (1.0f - v * v));
  }
}

}  // namespace

void add(const void* a, DType at, const void* b, DType bt, void* out, DType ot, int64_t n, int device) {
  if (n == 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  add_kernel<<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(a, at, b, bt, out, ot, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void add_inplace(void* y, DType yt, const void* x, DType xt, int64_t n, int device) {
  add(y, yt, x, xt, y, yt, n, device);
}

void scale_inplace(void* y, DType yt, float s, int64_t n, int device) {
  if (n == 0) return;
  cudaStream_t st = attncamp::cuda::launch_stream(device);
  scale_kernel<<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, st>>>(y, yt, s, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void tanh_forward(const void* x, DType xt, void* y, DType yt, int64_t n, int device) {
  if (n == 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  tanh_forward_kernel<<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(x, xt, y, yt, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void tanh_backward(const void* y, DType yt, const void* dy, DType dyt, void* dx, DType dxt, int64_t n, int device) {
  if (n == 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  tanh_backward_kernel<<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(y, yt, dy, dyt, dx, dxt, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace attncamp::ops::cuda
