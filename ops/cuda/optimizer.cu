// CUDA optimizer steps: one grid-stride elementwise kernel over the whole flat f32 buffers
// (params, grads, moments, optional weight-decay mask), optionally writing the updated params
// rounded to a compute dtype in the same pass. The per-element arithmetic is the CPU kernel's
// (ops/cpu/optimizer.cpp), in the same order, with the coefficients the host computed for it.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "ops/cuda/act_io.cuh"
#include "ops/optimizer.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ int64_t grid_index() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// C: the compute copy's element type (unused when a.compute_copy is nullptr).
template <class C>
__global__ void adamw_kernel(const AdamWArgs a) {
  const float one_minus_b1 = 1.0f - a.beta1, one_minus_b2 = 1.0f - a.beta2;
  C* copy = static_cast<C*>(a.compute_copy);
  for (int64_t i = grid_index(); i < a.n; i += grid_stride()) {
    const float keep = a.wd_mask == nullptr || a.wd_mask[i] != 0 ? a.decay : 1.0f;
    const float g = a.grads[i] * a.grad_scale;
    const float m = a.beta1 * a.m[i] + one_minus_b1 * g;
    const float v = a.beta2 * a.v[i] + one_minus_b2 * g * g;
    a.m[i] = m;
    a.v[i] = v;
    const float denom = sqrtf(v) / a.bias2_sqrt + a.eps;
    const float p = a.params[i] * keep - a.step_size * (m / denom);
    a.params[i] = p;
    if (copy != nullptr) copy[i] = from_f32<C>(p);
  }
}

template <class C>
__global__ void sgd_kernel(const SgdArgs a) {
  const bool use_momentum = a.buf != nullptr;
  const float mom_old = a.first_step ? 0.0f : a.momentum;  // buf = mom_old * buf + g
  const float nest = a.nesterov ? a.momentum : 0.0f;
  C* copy = static_cast<C*>(a.compute_copy);
  for (int64_t i = grid_index(); i < a.n; i += grid_stride()) {
    const float wd = a.wd_mask == nullptr || a.wd_mask[i] != 0 ? a.weight_decay : 0.0f;
    float g = a.grads[i] * a.grad_scale + wd * a.params[i];
    if (use_momentum) {
      const float b = a.first_step ? g : mom_old * a.buf[i] + g;
      a.buf[i] = b;
      g = a.nesterov ? g + nest * b : b;
    }
    const float p = a.params[i] - a.lr * g;
    a.params[i] = p;
    if (copy != nullptr) copy[i] = from_f32<C>(p);
  }
}

// Launches kernel<C> for the copy dtype (f32 when there is no copy).
template <class Args, class F32Kernel, class BF16Kernel, class F16Kernel>
void launch(const char* op, const Args& a, F32Kernel f32, BF16Kernel bf16, F16Kernel f16) {
  if (a.n == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  const unsigned blocks = ::attncamp::cuda::grid_1d(a.n, kThreads);
  const DType d = a.compute_copy != nullptr ? a.copy_dtype : DType::kF32;
  switch (d) {
    case DType::kF32: f32<<<blocks, kThreads, 0, s>>>(a); break;
    case DType::kBF16: bf16<<<blocks, kThreads, 0, s>>>(a); break;
    case DType::kF16: f16<<<blocks, kThreads, 0, s>>>(a); break;
    default: ATTNCAMP_THROW(op, " on CUDA: compute_copy dtype ", dtype_name(d), " is not supported");
  }
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace

void adamw_step(const AdamWArgs& a) {
  launch("adamw_step", a, adamw_kernel<float>, adamw_kernel<__nv_bfloat16>, adamw_kernel<__half>);
}

void sgd_step(const SgdArgs& a) {
  launch("sgd_step", a, sgd_kernel<float>, sgd_kernel<__nv_bfloat16>, sgd_kernel<__half>);
}

}  // namespace attncamp::ops::cuda
