// Warp-level primitives of the attention kernels: shuffles, the block's dynamic shared memory,
// asynchronous global-to-shared copies (cp.async), and the tensor-core instructions ldmatrix and
// mma.sync m16n8k16 (inline PTX). Every cross-lane, asynchronous or shared-memory-layout
// assumption of the kernels goes through this header.
//
// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16"), lane = 4 * g + t
// (g = lane / 4 in 0..7, t = lane % 4). A register holding two 16-bit elements keeps the one
// with the lower column (A, C) or lower k (B) in its low half.
//   A (16 x 16, row-major, 4 regs): a0 = A[g][2t, 2t+1],   a1 = A[g+8][2t, 2t+1],
//                                   a2 = A[g][2t+8, 2t+9], a3 = A[g+8][2t+8, 2t+9].
//   B (16 x 8, k x n, 2 regs):      b0 = B[2t, 2t+1][g],   b1 = B[2t+8, 2t+9][g].
//   C, D (16 x 8, f32, 4 regs):     c0, c1 = C[g][2t, 2t+1],  c2, c3 = C[g+8][2t, 2t+1].
// So the C fragments of two adjacent n-blocks (columns 0-7 and 8-15) of a 16 x 16 product are,
// packed in pairs, exactly the A fragment of that 16 x 16 tile: {c0c1, c2c3} of block 0 give
// a0, a1 and of block 1 give a2, a3. The kernels reuse P (and dS) this way without shared memory.
//
// ldmatrix.m8n8.x4 loads four 8 x 8 b16 matrices; lane l supplies the address of row l % 8 of
// matrix l / 8 (16 contiguous bytes, 16-byte aligned). Result register i holds, for lane
// 4g + t, row g, columns 2t and 2t+1 of matrix i; with .trans it holds rows 2t and 2t+1 of
// column g (the transpose). So for a row-major tile X[r][c] in shared memory:
//   A fragment of X[r0..r0+15][c0..c0+15]: lane l points at X[r0 + l % 16][c0 + (l / 16) * 8].
//   B fragments (b0, b1) of two n-blocks when B[k][n] = X[n][k] (X rows = n): lane l points at
//     X[n0 + (l / 16) * 8 + l % 8][k0 + ((l / 8) % 2) * 8]; regs 0,1 = n-block n0, 2,3 = n0 + 8.
//   B fragments of two n-blocks when B[k][n] = X[k][n] (X rows = k), with .trans: lane l points
//     at X[k0 + ((l / 8) % 2) * 8 + l % 8][n0 + (l / 16) * 8]; regs 0,1 = n0, regs 2,3 = n0 + 8.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace attncamp::ops::cuda::attn {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float shfl_xor(float v, int lane_mask) { return __shfl_xor_sync(kFullMask, v, lane_mask); }
__device__ __forceinline__ float shfl_idx(float v, int src_lane) { return __shfl_sync(kFullMask, v, src_lane); }

// The block's dynamic shared memory (16-byte aligned).
__device__ __forceinline__ unsigned char* dynamic_smem() {
  extern __shared__ __align__(16) unsigned char attncamp_attention_smem[];
  return attncamp_attention_smem;
}

// cp.async: copies issued by a thread land in shared memory at some point before that thread's
// next cp_async_wait_all(); other threads may read them only after a __syncthreads() that
// follows the wait. `fill` false writes zeros instead (the source is not read, but must be a
// valid address). 16-byte copies need 16-byte aligned addresses (cp.async.cg: cached in L2 only).
__device__ __forceinline__ void cp_async_16(void* smem_dst, const void* gmem_src, bool fill) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
  const int src_bytes = fill ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(gmem_src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_4(void* smem_dst, const void* gmem_src, bool fill) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
  const int src_bytes = fill ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(gmem_src), "r"(src_bytes) : "memory");
}
// commit closes the group of the thread's copies issued so far; wait_all waits for every
// committed group (copies issued after the last commit are not waited for).
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// 2^x by the special-function unit alone (ex2.approx.ftz: results below 2^-126 flush to 0, as
// do inputs of -inf; relative error 2^-22). exp2f without --use_fast_math adds a subnormal
// fix-up of three instructions around it, which the softmax of every score would pay.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Four 8 x 8 b16 matrices from shared memory (see the header comment for the addressing).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row_address) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row_address));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a)
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row_address) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row_address));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a)
               : "memory");
}

// d += A B for one m16n8k16 tile: A and B of the 16-bit type T (__nv_bfloat16 or __half), f32
// accumulators.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

}  // namespace attncamp::ops::cuda::attn
