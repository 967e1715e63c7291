// Warpgroup-level tensor-core primitives of the sm_90a attention kernels (inline PTX): wgmma
// (wgmma.mma_async m64nNk16, f32 accumulators), its fence / commit / wait, shared-memory matrix
// descriptors, and the proxy fence between cp.async writes and wgmma reads. tests/emu shadows this
// header like attention_warp.cuh. Only an sm_90a compilation has these instructions; any other
// device pass compiles them to a trap, and the host launchers refuse other devices.
//
// A warpgroup is 4 consecutive warps (128 threads, the first warp's index a multiple of 4); all of
// them issue each wgmma, which multiplies a 64 x 16 A by a 16 x N B into a 64 x N accumulator.
// Warp w of the group owns rows 16 w .. 16 w + 15, in exactly the layouts of mma.m16n8k16
// (attention_warp.cuh), lane = 4 g + t:
//   D (64 x N, f32, N / 2 regs as d[N / 8][4]): d[j] holds rows 16 w + g, 16 w + g + 8, columns
//     8 j + 2 t, 8 j + 2 t + 1, as one m16n8 C fragment per 8-column block j.
//   A from registers (4 regs): the m16n8k16 A fragment of the warp's 16 rows.
// So P built from S's C fragments (a_from_c) feeds a wgmma from registers without data movement.
//
// Shared-memory operands are described, not addressed per lane: a 64-bit descriptor holds the
// start address, the leading-dimension byte offset (LBO) and the stride-dimension byte offset
// (SBO), each >> 4 in 14 bits (bits 0-13, 16-29, 32-45), base offset 0 and swizzle mode 0 (bits
// 62-63: no swizzle), the only mode used here. Without swizzle an operand is a grid of core
// matrices of 8 rows x 16 contiguous bytes (128 bytes each):
//   K-major (A, and B with trans-b 0: contiguous along k): element (mn, k), k < 16, is at
//     start + (mn / 8) SBO + (mn % 8) 16 + (k / 8) LBO + (k % 8) 2 bytes;
//   MN-major (B with trans-b 1: contiguous along n): element (k, n) is at
//     start + (n / 8) SBO + (n % 8) 2 + (k / 8) LBO + (k % 8) 16 bytes.
// LBO steps between core matrices along k, SBO along m or n (PTX ISA, "Matrix Descriptor Format";
// CUTLASS's make_gmma_desc, INTERLEAVE layouts).
//
// Asynchrony: a wgmma reads its shared memory and registers and writes its accumulators at some
// point before the wgmma_wait that covers its group; until then the kernel may neither read nor
// write the accumulators (nor overwrite the A registers or the shared memory it reads), and
// wgmma_fence_operand after the wait keeps the compiler from moving their uses above it.
// wgmma_fence orders earlier register accesses before the wgmma that follow it: one is needed
// before the first wgmma after the accumulators or A registers were touched. Writes to shared
// memory by cp.async (the generic proxy) reach wgmma (the async proxy) only after the writer's
// fence_proxy_async and then a __syncthreads.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "ops/cuda/attention_warp.cuh"

namespace attncamp::ops::cuda::attn {

#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define ATTNCAMP_WGMMA_TRAP 1  // a device pass without sm_90a's instructions
#endif

// A no-swizzle shared-memory matrix descriptor of the operand starting at `smem` (16-byte aligned).
__device__ __forceinline__ uint64_t wgmma_desc(const void* smem, uint32_t lbo, uint32_t sbo) {
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  return uint64_t{(a >> 4) & 0x3fffu} | uint64_t{(lbo >> 4) & 0x3fffu} << 16 | uint64_t{(sbo >> 4) & 0x3fffu} << 32;
}
// The descriptor of the operand `bytes` (a multiple of 16) further on.
__device__ __forceinline__ uint64_t wgmma_desc_add(uint64_t desc, uint32_t bytes) { return desc + (bytes >> 4); }

__device__ __forceinline__ void wgmma_fence() {
#ifdef ATTNCAMP_WGMMA_TRAP
  __trap();
#else
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#ifdef ATTNCAMP_WGMMA_TRAP
  __trap();
#else
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
// Waits until at most kPending of the warpgroup's committed groups are still in flight.
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
#ifdef ATTNCAMP_WGMMA_TRAP
  __trap();
#else
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
#endif
}
// Pins the accumulators to this point of the program for the compiler: an empty asm that "writes"
// every register. wgmma_wait does not name the registers it makes valid, so without this after a
// wait the compiler may move their first uses above it (ptxas then serializes the wgmma, C7515);
// before a wgmma_fence it keeps the last changes to them (O's rescale) above the fence. CUTLASS's
// warpgroup_fence_operand does the same, on both sides.
template <int kBlocks>
__device__ __forceinline__ void wgmma_fence_operand(float (&d)[kBlocks][4]) {
#pragma unroll
  for (int j = 0; j < kBlocks; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[j][e])::"memory");
  }
}

__device__ __forceinline__ void fence_proxy_async() {
#ifdef ATTNCAMP_WGMMA_TRAP
  __trap();
#else
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Accumulator operand lists: 8-column block j of d is 4 registers.
#define ATTNCAMP_WG_D4(j) "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])
#define ATTNCAMP_WG_D16 ATTNCAMP_WG_D4(0), ATTNCAMP_WG_D4(1), ATTNCAMP_WG_D4(2), ATTNCAMP_WG_D4(3)
#define ATTNCAMP_WG_D32                                                                                             \
  ATTNCAMP_WG_D4(0), ATTNCAMP_WG_D4(1), ATTNCAMP_WG_D4(2), ATTNCAMP_WG_D4(3), ATTNCAMP_WG_D4(4), ATTNCAMP_WG_D4(5), \
      ATTNCAMP_WG_D4(6), ATTNCAMP_WG_D4(7)
#define ATTNCAMP_WG_D64                                                                                              \
  ATTNCAMP_WG_D32, ATTNCAMP_WG_D4(8), ATTNCAMP_WG_D4(9), ATTNCAMP_WG_D4(10), ATTNCAMP_WG_D4(11), ATTNCAMP_WG_D4(12), \
      ATTNCAMP_WG_D4(13), ATTNCAMP_WG_D4(14), ATTNCAMP_WG_D4(15)
#define ATTNCAMP_WG_R16 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}"
#define ATTNCAMP_WG_R32                                                                                             \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, " \
  "%24, "                                                                                                           \
  "%25, %26, %27, %28, %29, %30, %31}"
#define ATTNCAMP_WG_R64                                                                                             \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, " \
  "%24, "                                                                                                           \
  "%25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, "  \
  "%47, "                                                                                                           \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
// d (+)= A B with A (64 x 16) and B (16 x N) in shared memory; `accumulate` false ignores d's old
// values. TY: the input type's PTX name; TRANS: imm-trans-a, imm-trans-b ("0, 0": both K-major,
// "1, 1": A M-major and B N-major).
#define ATTNCAMP_WGMMA_SS(N, TY, DLIST, REGS, DA, DB, SC, TRANS)                                    \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " SC                                               \
               ", 0;\n"                                                                             \
               "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TY "." TY " " REGS ", " DA ", " DB \
               ", p, 1, 1, " TRANS ";\n}\n"                                                         \
               : DLIST                                                                              \
               : "l"(desc_a), "l"(desc_b), "r"(static_cast<int>(accumulate)))
// d (+)= A B with A (64 x 16) from registers (the warp's m16n8k16 A fragment) and B (16 x N) in
// shared memory; TRANS_B: imm-trans-b ("0": K-major, "1": N-major).
#define ATTNCAMP_WGMMA_RS(N, TY, DLIST, REGS, A, DB, SC, TRANS_B)                                  \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " SC                                              \
               ", 0;\n"                                                                            \
               "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TY "." TY " " REGS ", " A ", " DB \
               ", p, 1, 1, " TRANS_B ";\n}\n"                                                      \
               : DLIST                                                                             \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(static_cast<int>(accumulate)))

#define ATTNCAMP_WGMMA_SS_ALL(TRANS)                                                              \
  if constexpr (kN == 32 && std::is_same_v<T, __nv_bfloat16>) {                                   \
    ATTNCAMP_WGMMA_SS(32, "bf16", ATTNCAMP_WG_D16, ATTNCAMP_WG_R16, "%16", "%17", "%18", TRANS);  \
  } else if constexpr (kN == 32) {                                                                \
    ATTNCAMP_WGMMA_SS(32, "f16", ATTNCAMP_WG_D16, ATTNCAMP_WG_R16, "%16", "%17", "%18", TRANS);   \
  } else if constexpr (kN == 64 && std::is_same_v<T, __nv_bfloat16>) {                            \
    ATTNCAMP_WGMMA_SS(64, "bf16", ATTNCAMP_WG_D32, ATTNCAMP_WG_R32, "%32", "%33", "%34", TRANS);  \
  } else if constexpr (kN == 64) {                                                                \
    ATTNCAMP_WGMMA_SS(64, "f16", ATTNCAMP_WG_D32, ATTNCAMP_WG_R32, "%32", "%33", "%34", TRANS);   \
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {                                        \
    ATTNCAMP_WGMMA_SS(128, "bf16", ATTNCAMP_WG_D64, ATTNCAMP_WG_R64, "%64", "%65", "%66", TRANS); \
  } else {                                                                                        \
    ATTNCAMP_WGMMA_SS(128, "f16", ATTNCAMP_WG_D64, ATTNCAMP_WG_R64, "%64", "%65", "%66", TRANS);  \
  }

#define ATTNCAMP_WGMMA_RS_ALL(TRANS_B)                                                                               \
  if constexpr (kN == 64 && std::is_same_v<T, __nv_bfloat16>) {                                                      \
    ATTNCAMP_WGMMA_RS(64, "bf16", ATTNCAMP_WG_D32, ATTNCAMP_WG_R32, "{%32, %33, %34, %35}", "%36", "%37", TRANS_B);  \
  } else if constexpr (kN == 64) {                                                                                   \
    ATTNCAMP_WGMMA_RS(64, "f16", ATTNCAMP_WG_D32, ATTNCAMP_WG_R32, "{%32, %33, %34, %35}", "%36", "%37", TRANS_B);   \
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {                                                           \
    ATTNCAMP_WGMMA_RS(128, "bf16", ATTNCAMP_WG_D64, ATTNCAMP_WG_R64, "{%64, %65, %66, %67}", "%68", "%69", TRANS_B); \
  } else {                                                                                                           \
    ATTNCAMP_WGMMA_RS(128, "f16", ATTNCAMP_WG_D64, ATTNCAMP_WG_R64, "{%64, %65, %66, %67}", "%68", "%69", TRANS_B);  \
  }

template <typename T, int kN, bool kTransposed>
__device__ __forceinline__ void wgmma_ss_impl(float (&d)[kN / 8][4], uint64_t desc_a, uint64_t desc_b,
                                              bool accumulate) {
  static_assert(kN == 32 || kN == 64 || kN == 128, "wgmma_ss is instantiated for N = 32, 64 and 128");
  static_assert(std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>, "bf16 or f16 inputs");
#ifdef ATTNCAMP_WGMMA_TRAP
  __trap();
#else
  if constexpr (kTransposed) {
    ATTNCAMP_WGMMA_SS_ALL("1, 1")
  } else {
    ATTNCAMP_WGMMA_SS_ALL("0, 0")
  }
#endif
}

// d (+)= A B with A (64 x 16) and B (16 x N) both K-major in shared memory.
template <typename T, int kN>
__device__ __forceinline__ void wgmma_ss(float (&d)[kN / 8][4], uint64_t desc_a, uint64_t desc_b, bool accumulate) {
  wgmma_ss_impl<T, kN, false>(d, desc_a, desc_b, accumulate);
}
// d (+)= A B with A M-major and B N-major in shared memory (trans-a 1, trans-b 1).
template <typename T, int kN>
__device__ __forceinline__ void wgmma_ss_tt(float (&d)[kN / 8][4], uint64_t desc_a, uint64_t desc_b, bool accumulate) {
  wgmma_ss_impl<T, kN, true>(d, desc_a, desc_b, accumulate);
}

template <typename T, int kN, bool kTransB>
__device__ __forceinline__ void wgmma_rs_impl(float (&d)[kN / 8][4], const uint32_t (&a)[4], uint64_t desc_b,
                                              bool accumulate) {
  static_assert(kN == 64 || kN == 128, "the register-A wgmma is instantiated for N = 64 and 128");
  static_assert(std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>, "bf16 or f16 inputs");
#ifdef ATTNCAMP_WGMMA_TRAP
  __trap();
#else
  if constexpr (kTransB) {
    ATTNCAMP_WGMMA_RS_ALL("1")
  } else {
    ATTNCAMP_WGMMA_RS_ALL("0")
  }
#endif
}

// d (+)= A B with A (64 x 16) from registers (the warp's m16n8k16 A fragment) and B (16 x N) in
// shared memory, K-major (trans-b 0).
template <typename T, int kN>
__device__ __forceinline__ void wgmma_rs(float (&d)[kN / 8][4], const uint32_t (&a)[4], uint64_t desc_b,
                                         bool accumulate) {
  wgmma_rs_impl<T, kN, false>(d, a, desc_b, accumulate);
}
// The same with B MN-major (trans-b 1).
template <typename T, int kN>
__device__ __forceinline__ void wgmma_rs_bt(float (&d)[kN / 8][4], const uint32_t (&a)[4], uint64_t desc_b,
                                            bool accumulate) {
  wgmma_rs_impl<T, kN, true>(d, a, desc_b, accumulate);
}

#undef ATTNCAMP_WGMMA_RS_ALL
#undef ATTNCAMP_WGMMA_RS
#undef ATTNCAMP_WGMMA_SS_ALL
#undef ATTNCAMP_WGMMA_SS
#undef ATTNCAMP_WG_R64
#undef ATTNCAMP_WG_R32
#undef ATTNCAMP_WG_R16
#undef ATTNCAMP_WG_D64
#undef ATTNCAMP_WG_D32
#undef ATTNCAMP_WG_D16
#undef ATTNCAMP_WG_D4

}  // namespace attncamp::ops::cuda::attn
