// The comparison behind the attention autotuner's agreement check (attention_autotune.cu): a
// variant's outputs against the reference variant's, as the largest absolute difference and the
// largest reference magnitude. Device code only, so the CPU emulator (tests/emu) runs it too.
#pragma once

#include <cstdint>

#include "ops/cuda/act_io.cuh"

namespace attncamp::ops::cuda::attn {

// One output of a pass as a strided [n0, n1, n2, n3] view (innermost stride 1).
struct AgreementView {
  void* data;
  DType dtype;
  int64_t n[4];
  int64_t stride[3];
  __host__ __device__ int64_t elems() const { return n[0] * n[1] * n[2] * n[3]; }
};

// Raises *slot to the bits of the warp's largest v (v >= 0: such floats' bits order like the
// floats, so an unsigned atomicMax finds the largest).
__device__ inline void max_into(unsigned* slot, float v) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (threadIdx.x % 32 == 0 && v > 0) atomicMax(slot, __float_as_uint(v));
}

// store: ref[i] = got[i] (ref contiguous, got strided through `view`). Otherwise raises stats[0]
// and stats[1] (zeroed beforehand) to the bits of max |ref| over ref's finite values and of
// max |got - ref|, where a non-finite value is an infinite difference unless the reference holds
// the same infinity or also a NaN. Any grid; blocks of whole warps.
template <typename T>
__global__ void agreement_kernel(const T* got, AgreementView view, T* ref, bool store, unsigned* stats) {
  const int64_t total = view.elems();
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  float max_ref = 0, max_diff = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    int64_t rest = i;
    const int64_t i3 = rest % view.n[3];
    rest /= view.n[3];
    const int64_t i2 = rest % view.n[2];
    rest /= view.n[2];
    const int64_t i1 = rest % view.n[1];
    const int64_t i0 = rest / view.n[1];
    const T g = got[i0 * view.stride[0] + i1 * view.stride[1] + i2 * view.stride[2] + i3];
    if (store) {
      ref[i] = g;
      continue;
    }
    const float gf = to_f32(g), rf = to_f32(ref[i]);
    if (isfinite(rf)) max_ref = fmaxf(max_ref, fabsf(rf));
    float d = fabsf(gf - rf);
    if (!isfinite(gf) || !isfinite(rf)) d = gf == rf || (isnan(gf) && isnan(rf)) ? 0.0f : INFINITY;
    max_diff = fmaxf(max_diff, d);
  }
  if (store) return;  // uniform: the whole warp reaches the shuffles below
  max_into(stats, max_ref);
  max_into(stats + 1, max_diff);
}

}  // namespace attncamp::ops::cuda::attn
