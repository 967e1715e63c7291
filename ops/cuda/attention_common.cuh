// Device helpers shared by the attention kernels: packing of 16-bit pairs (element conversion is
// act_io.cuh's to_f32 / from_f32), row addressing of strided [B,S,H,D] views, and copies of row
// tiles from global into shared memory (rows past the sequence end are zero-filled, so padded
// keys and values are finite and padded queries produce nothing).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "ops/cuda/act_io.cuh"
#include "ops/cuda/attention_args.h"
#include "ops/cuda/attention_warp.cuh"
#include "ops/cuda/attention_wgmma.cuh"

namespace attncamp::ops::cuda::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Two values rounded to the 16-bit type T and packed into one register, `lo` in the low half
// (the element with the lower column or k index of a fragment register).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &v, sizeof(u));
  return u;
}
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &v, sizeof(u));
  return u;
}

// The A fragment (16 x 16, T) of two adjacent n-blocks' C fragments (f32): columns 0-7 from c0,
// 8-15 from c1 (attention_warp.cuh explains why this needs no data movement). The kernels turn
// P, P^T, dS and dS^T into the A operand of their second matmul this way.
template <typename T>
__device__ __forceinline__ void a_from_c(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
  a[0] = pack2<T>(c0[0], c0[1]);
  a[1] = pack2<T>(c0[2], c0[3]);
  a[2] = pack2<T>(c1[0], c1[1]);
  a[3] = pack2<T>(c1[2], c1[3]);
}

// Row 0 of the (b, h) slice of a [B,S,H,D] view; row i is at i * st.seq from it.
template <typename T>
__device__ __forceinline__ T* slice_ptr(const void* base, const SeqStrides& st, int64_t b, int64_t h) {
  return static_cast<T*>(const_cast<void*>(base)) + b * st.batch + h * st.head;
}

// Key j of batch row b may be attended: j < seq_k and the mask (if any) allows it.
__device__ __forceinline__ bool key_allowed(const AttentionArgs& p, int64_t b, int j) {
  return j < p.seq_k && (p.key_valid == nullptr || p.key_valid[b * p.seq_k + j] != 0);
}

// Log-sum-exp of a query row (f32, natural log) in base-2 units for exp2f(s * scale * log2e -
// lse2): rows without attendable keys (lse = -inf) and rows past seq_q (`in_range` false) give
// +inf, so every probability recomputed from them is exactly 0.
__device__ __forceinline__ float lse2_of(float lse, bool in_range) {
  return in_range && lse != -INFINITY ? lse * kLog2e : INFINITY;
}
__device__ __forceinline__ float lse_log2(const float* lse_row0, int i, int seq_q) {
  return i < seq_q ? lse2_of(lse_row0[i], true) : INFINITY;
}

// A list of tile shapes (configurations of one kernel): the tuning lab's variants
// (attention_variants.cuh).
template <class... C>
struct TileList {};

// How a kernel walks its tiles: one after the other, or pipelined, with the next tile's first
// products in flight while this tile is finished (each kernel says what overlaps).
enum class Loop { kPlain, kPipelined };

// Who reads the tiles a kernel copies into shared memory: ldmatrix (the mma.sync kernels: rows
// padded against bank conflicts, visible to the block's threads) or wgmma (core-matrix order,
// visible to the async proxy too).
enum class TileReader { kLdmatrix, kWgmma };

// The tile shape every tensor-core attention kernel shares: kWarps warps per block, each owning
// kTiles 16-row tiles of the block's rows (queries or keys), walking tiles of kWalk rows of the
// other side; kMinBlocks is the __launch_bounds__ minimum of blocks per SM (it caps registers).
template <int kD, int kTiles, int kWalk, int kWarps, int kMinBlocks>
struct TileConfig {
  static_assert(kD == 32 || kD == 64 || kD == 128, "tensor-core attention supports head dim 32, 64, 128");
  static_assert(kWalk % 16 == 0 && kTiles >= 1 && kWarps >= 1, "walked tiles are multiples of 16 rows");
  static constexpr int kHeadDim = kD, kRowTiles = kTiles, kThreads = 32 * kWarps, kBlocksPerSm = kMinBlocks;
  static constexpr int kBlockRows = 16 * kTiles * kWarps;  // rows a block owns
  static constexpr int kStride = kD + 8;                   // smem row stride in elements
};

// 16-bit tiles for the tensor-core kernels, asynchronously (cp.async; see attention_warp.cuh for
// when they land): rows row0 .. row0 + kRows - 1 (zero past n) of a slice, each kD elements, in
// 16-byte chunks into smem rows of kD + 8 elements (the 16-byte pad staggers rows across banks, so
// ldmatrix reads are conflict-free). Needs 16-byte aligned rows.
template <typename T, int kRows, int kD, int kThreads>
__device__ __forceinline__ void load_tile_async(T* tile, const T* slice, int64_t seq_stride, int row0, int n) {
  constexpr int kChunks = kD / 8;
  for (int c = threadIdx.x; c < kRows * kChunks; c += kThreads) {
    const int r = c / kChunks, col = (c % kChunks) * 8;
    const bool in = row0 + r < n;
    cp_async_16(tile + r * (kD + 8) + col, in ? slice + static_cast<int64_t>(row0 + r) * seq_stride + col : slice, in);
  }
}

// The same rows in the no-swizzle core-matrix order of wgmma operands (attention_wgmma.cuh):
// 16-byte chunk c of the tile, at byte 16 c, holds row 8 (c / kD) + c % 8, columns
// 8 ((c / 8) % (kD / 8)) .. + 7. So a core matrix (8 rows x 8 columns) is 128 contiguous bytes,
// the next 8 columns are 128 bytes on and the next 8 rows 16 kD bytes on; eight threads in a row
// fill one core matrix (no bank conflicts).
template <typename T, int kRows, int kD, int kThreads>
__device__ __forceinline__ void load_tile_cm_async(T* tile, const T* slice, int64_t seq_stride, int row0, int n) {
  constexpr int kChunks = kD / 8;
  static_assert(kRows % 8 == 0, "whole core matrices");
  for (int c = threadIdx.x; c < kRows * kChunks; c += kThreads) {
    const int r = c / (8 * kChunks) * 8 + c % 8, col = (c / 8) % kChunks * 8;
    const bool in = row0 + r < n;
    cp_async_16(tile + c * 8, in ? slice + static_cast<int64_t>(row0 + r) * seq_stride + col : slice, in);
  }
}

// Rows of a slice for ldmatrix (padded rows, load_tile_async) or for wgmma (core-matrix order,
// load_tile_cm_async).
template <typename T, int kRows, int kD, int kThreads, TileReader kReader>
__device__ __forceinline__ void load_rows_async(T* tile, const T* slice, int64_t seq_stride, int row0, int n) {
  if constexpr (kReader == TileReader::kWgmma) {
    load_tile_cm_async<T, kRows, kD, kThreads>(tile, slice, seq_stride, row0, n);
  } else {
    load_tile_async<T, kRows, kD, kThreads>(tile, slice, seq_stride, row0, n);
  }
}

// This thread's committed cp.async copies land and become visible to every thread of the block
// (and, for wgmma, to the async proxy), and everybody is done with what it read before: the one
// barrier per tile of the attention kernels.
template <TileReader kReader>
__device__ __forceinline__ void tiles_landed() {
  cp_async_wait_all();
  if constexpr (kReader == TileReader::kWgmma) fence_proxy_async();
  __syncthreads();
}

// Flips the sign bits of this thread's 16-byte chunks of a tile it loaded with
// load_tile_cm_async (after its cp_async_wait_all): a negative scale folded into Q in shared
// memory for wgmma, as FwdRows does for the mma.sync kernels' Q fragments.
template <int kChunks, int kThreads>
__device__ __forceinline__ void negate_own_chunks(void* tile) {
  for (int c = threadIdx.x; c < kChunks; c += kThreads) {
    uint4* chunk = static_cast<uint4*>(tile) + c;
    uint4 v = *chunk;
    v.x ^= 0x80008000u;
    v.y ^= 0x80008000u;
    v.z ^= 0x80008000u;
    v.w ^= 0x80008000u;
    *chunk = v;
  }
}

// kCount floats src[i0 ..] (zero past n) into dst, asynchronously.
template <int kCount, int kThreads>
__device__ __forceinline__ void load_floats_async(float* dst, const float* src, int i0, int n) {
  for (int c = threadIdx.x; c < kCount; c += kThreads) cp_async_4(dst + c, i0 + c < n ? src + i0 + c : src, i0 + c < n);
}

// Flags of keys n0 .. n0 + kCount - 1 (1: attendable, 0: masked or past seq_k), plain stores.
template <int kCount, int kThreads>
__device__ __forceinline__ void load_key_flags(uint8_t* flags, const AttentionArgs& p, int64_t b, int n0) {
  for (int c = threadIdx.x; c < kCount; c += kThreads) flags[c] = key_allowed(p, b, n0 + c) ? 1 : 0;
}

// f32 tiles for the simple kernels: rows row0 .. row0 + rows - 1 (zero past n) of a slice, d
// elements each, into smem rows of `ld` floats.
template <typename T, int kThreads>
__device__ __forceinline__ void load_tile_f32(float* tile, int ld, const T* slice, int64_t seq_stride, int row0, int n,
                                              int rows, int d) {
  for (int e = threadIdx.x; e < rows * d; e += kThreads) {
    const int r = e / d, c = e - r * d;
    tile[r * ld + c] = row0 + r < n ? to_f32(slice[static_cast<int64_t>(row0 + r) * seq_stride + c]) : 0.0f;
  }
}

}  // namespace attncamp::ops::cuda::attn
