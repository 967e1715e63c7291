// CUDA launchers of the box coding (ops/box_coding.h); the kernels are in ops/cuda/box_coding.cuh.
#include <cuda_runtime.h>

#include "ops/box_coding.h"
#include "ops/cuda/box_coding.cuh"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {

namespace {

box_coding::Params params_of(const BoxCodingArgs& a) {
  box_coding::Params p;
  p.n = a.n;
  p.k = a.k;
  p.reference = a.reference;
  p.wx = a.wx;
  p.wy = a.wy;
  p.ww = a.ww;
  p.wh = a.wh;
  p.clip = a.clip;
  return p;
}

unsigned grid(int64_t items) { return ::attncamp::cuda::grid_1d(items, box_coding::kThreads); }

}  // namespace

void box_encode(const BoxCodingArgs& a, const float* target, float* deltas) {
  if (a.n == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  box_coding::encode_kernel<<<grid(a.n), box_coding::kThreads, 0, s>>>(params_of(a), target, deltas);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void box_decode_forward(const BoxCodingArgs& a, const float* deltas, float* boxes) {
  if (a.n * a.k == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  box_coding::decode_kernel<<<grid(a.n * a.k), box_coding::kThreads, 0, s>>>(params_of(a), deltas, boxes);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void box_decode_backward(const BoxCodingArgs& a, const float* dboxes, const float* deltas, float* ddeltas) {
  if (a.n * a.k == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  box_coding::decode_backward_kernel<<<grid(a.n * a.k), box_coding::kThreads, 0, s>>>(params_of(a), dboxes, deltas,
                                                                                      ddeltas);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace attncamp::ops::cuda
