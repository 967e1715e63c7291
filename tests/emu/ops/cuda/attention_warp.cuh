// Emulator shadow of ops/cuda/attention_warp.cuh (same API, same namespace): with tests/emu first
// on the include path, g++ builds of the kernel headers get these host implementations of the
// shuffles, the dynamic shared memory, cp.async, ex2.approx, ldmatrix and mma.sync instead of the
// inline PTX. Semantics are the PTX ISA's, as the real header's comment describes them; the
// emulator (tests/emu/emu_runtime.h) also checks the rules the instructions impose.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#include <cstdint>

#include "cuda_emu.h"

namespace attncamp::ops::cuda::attn {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float shfl_xor(float v, int lane_mask) { return __shfl_xor_sync(kFullMask, v, lane_mask); }
__device__ __forceinline__ float shfl_idx(float v, int src_lane) { return __shfl_sync(kFullMask, v, src_lane); }

// The block's dynamic shared memory (16-byte aligned; 0xff bytes until written).
__device__ __forceinline__ unsigned char* dynamic_smem() { return emu::shared_memory(); }

// cp.async: queued per thread, performed at the thread's next cp_async_wait_all() that follows a
// cp_async_commit() (the latest moment PTX allows); until then the destination holds 0xff bytes.
__device__ __forceinline__ void cp_async_16(void* smem_dst, const void* gmem_src, bool fill) {
  emu::cp_async(smem_dst, gmem_src, 16, fill);
}
__device__ __forceinline__ void cp_async_4(void* smem_dst, const void* gmem_src, bool fill) {
  emu::cp_async(smem_dst, gmem_src, 4, fill);
}
__device__ __forceinline__ void cp_async_commit() { emu::cp_async_commit(); }
__device__ __forceinline__ void cp_async_wait_all() { emu::cp_async_wait_all(); }

// ex2.approx.ftz.f32: results below 2^-126 (and inputs of -inf) give +0, NaN stays NaN. The
// emulation is libm's exp2f, more accurate than the instruction's 2^-22 relative error.
__device__ __forceinline__ float fast_exp2(float x) {
  const float y = exp2f(x);
  return y < 0x1p-126f ? 0.0f : y;
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row_address) {
  emu::ldmatrix_x4(r, row_address, false);
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row_address) {
  emu::ldmatrix_x4(r, row_address, true);
}

template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                                         uint32_t b1) {
  emu::mma_16816(emu::MmaType::kBF16, d, a, b0, b1);
}

template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  emu::mma_16816(emu::MmaType::kF16, d, a, b0, b1);
}

}  // namespace attncamp::ops::cuda::attn
