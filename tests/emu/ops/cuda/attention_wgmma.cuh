// Emulator shadow of ops/cuda/attention_wgmma.cuh (same API, same namespace): g++ builds of the
// sm_90a kernel headers get host implementations of wgmma, its fence / commit / wait and the
// shared-memory descriptors, with the semantics that header's comment describes. The emulator
// (tests/emu/emu_runtime.h) performs each wgmma at the latest moment PTX allows (the wait covering
// its group), reading shared memory then, and poisons the accumulators in between, so a kernel
// that overwrites an operand or touches the accumulators too early computes garbage.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "cuda_emu.h"
#include "ops/cuda/attention_warp.cuh"

namespace attncamp::ops::cuda::attn {

__device__ __forceinline__ uint64_t wgmma_desc(const void* smem, uint32_t lbo, uint32_t sbo) {
  const auto a = static_cast<uint32_t>(static_cast<const unsigned char*>(smem) - emu::shared_memory());
  return uint64_t{(a >> 4) & 0x3fffu} | uint64_t{(lbo >> 4) & 0x3fffu} << 16 | uint64_t{(sbo >> 4) & 0x3fffu} << 32;
}
__device__ __forceinline__ uint64_t wgmma_desc_add(uint64_t desc, uint32_t bytes) { return desc + (bytes >> 4); }

__device__ __forceinline__ void wgmma_fence() { emu::wgmma_fence(); }
__device__ __forceinline__ void wgmma_commit() { emu::wgmma_commit(); }
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  emu::wgmma_wait(kPending);
}
// A compiler barrier on the real hardware; the emulator runs the code in program order.
template <int kBlocks>
__device__ __forceinline__ void wgmma_fence_operand(float (&)[kBlocks][4]) {}
// Tracked: a wgmma may read what a thread's cp.async wrote only after that thread's fence.
__device__ __forceinline__ void fence_proxy_async() { emu::fence_proxy_async(); }

template <typename T>
constexpr emu::MmaType kWgmmaType = std::is_same_v<T, __half> ? emu::MmaType::kF16 : emu::MmaType::kBF16;

template <typename T, int kN>
__device__ __forceinline__ void wgmma_ss(float (&d)[kN / 8][4], uint64_t desc_a, uint64_t desc_b, bool accumulate) {
  emu::wgmma(emu::WgmmaIssue{kWgmmaType<T>, kN, &d[0][0], desc_a, {}, false, false, desc_b, false, accumulate});
}

template <typename T, int kN>
__device__ __forceinline__ void wgmma_ss_tt(float (&d)[kN / 8][4], uint64_t desc_a, uint64_t desc_b, bool accumulate) {
  emu::wgmma(emu::WgmmaIssue{kWgmmaType<T>, kN, &d[0][0], desc_a, {}, false, true, desc_b, true, accumulate});
}

template <typename T, int kN>
__device__ __forceinline__ void wgmma_rs(float (&d)[kN / 8][4], const uint32_t (&a)[4], uint64_t desc_b,
                                         bool accumulate) {
  emu::wgmma(emu::WgmmaIssue{
      kWgmmaType<T>, kN, &d[0][0], 0, {a[0], a[1], a[2], a[3]}, true, false, desc_b, false, accumulate});
}

template <typename T, int kN>
__device__ __forceinline__ void wgmma_rs_bt(float (&d)[kN / 8][4], const uint32_t (&a)[4], uint64_t desc_b,
                                            bool accumulate) {
  emu::wgmma(
      emu::WgmmaIssue{kWgmmaType<T>, kN, &d[0][0], 0, {a[0], a[1], a[2], a[3]}, true, false, desc_b, true, accumulate});
}

}  // namespace attncamp::ops::cuda::attn
