// Tensor-core attention forward on Hopper's warpgroup MMA (wgmma, sm_90a only) for T =
// __nv_bfloat16 or __half and head dim kD in {64, 128}. The structure is the mma.sync forward's
// (attention_mma_fwd.cuh: same block, key-tile loop, masks, online softmax and store, one 16-row
// tile per warp), with the two matmuls of a key tile each issued as one wgmma chain by a whole
// warpgroup (4 warps, 64 queries): S = Q K^T from shared memory (Q and K K-major), then, after the
// softmax, O += P V with P from registers (S's C fragments, as in the mma.sync kernel) and V
// MN-major. Q, K and V sit in shared memory in core-matrix order (load_tile_cm_async), described
// to wgmma by no-swizzle descriptors (attention_wgmma.cuh). A block is kGroups warpgroups sharing
// each K and V tile; tiles are double-buffered as in the mma.sync forward. wgmma takes the
// operand traffic of shared memory off the warps (no ldmatrix), and its larger shapes keep the
// tensor cores busier than mma.sync can; the softmax of one warpgroup overlaps the matmuls of
// the others on the SM.
#pragma once

#include "ops/cuda/attention_mma_fwd.cuh"
#include "ops/cuda/attention_wgmma.cuh"

namespace attncamp::ops::cuda::attn {

// Tile shape of the wgmma forward: kGroups warpgroups of 64 queries, kN keys per tile, kMinBlocks
// blocks per SM; Loop::kPipelined selects the pipelined kernel (one tile's P V in flight during
// the next tile's softmax), and QFrom::kRegisters loads each warp's 16 Q rows into registers
// (kD / 4 more per thread) as the A of S = Q K^T, which then reads only K from shared memory.
// The members FwdBlock and FwdRows read are those of MmaFwdConfig with one row tile per warp and
// unpadded rows (kStride = kD: wgmma reads core matrices, not ldmatrix rows).
template <int kD, int kN, int kGroups, int kMinBlocks = 1, Loop kLoop = Loop::kPlain, QFrom kQ = QFrom::kSharedMemory>
struct WgmmaFwdConfig {
  static_assert(kD == 64 || kD == 128, "the wgmma forward supports head dim 64 and 128");
  static_assert(kN == 64 || kN == 128, "the wgmma forward walks 64 or 128 keys per tile");
  static constexpr int kHeadDim = kD, kRowTiles = 1, kKeys = kN, kThreads = 128 * kGroups, kBlocksPerSm = kMinBlocks;
  static constexpr int kM = 64 * kGroups, kBlockRows = kM, kStride = kD;
  static constexpr bool kPipelined = kLoop == Loop::kPipelined, kQInSmem = true, kWgmma = true;
  static constexpr bool kQInRegisters = kQ == QFrom::kRegisters;
  // sQ [kM][kD], sK and sV [2][kN][kD] (16-bit, core-matrix order), then key flags [2][kN].
  static constexpr size_t kSmemBytes = size_t{2} * (kM + 4 * kN) * kD + 2 * kN;
};

// Byte distances in the core-matrix order of load_tile_cm_async: one core matrix (the next 8
// columns), and 8 rows of all kD columns (the next 8 rows).
constexpr uint32_t kCoreBytes = 128;
template <int kD>
constexpr uint32_t kRowGroupBytes = 16 * kD;

// The m16n8k16 A fragments of rows 16 warp .. 16 warp + 15 of a [rows][kD] 16-bit tile in
// core-matrix order (load_tile_cm_async), one per 16 columns: a[kk] holds (row, column) = (16 warp
// + g, 16 kk + 2 t), (+ 8, same), (same, + 8), (+ 8, + 8), two columns per register.
template <int kD>
__device__ __forceinline__ void core_matrix_a_fragments(uint32_t (&a)[kD / 16][4], const void* tile, int warp, int g,
                                                        int t) {
  const unsigned char* base = static_cast<const unsigned char*>(tile) + 2 * warp * kRowGroupBytes<kD> + g * 16 + 4 * t;
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      a[kk][r] =
          *reinterpret_cast<const uint32_t*>(base + (r % 2) * kRowGroupBytes<kD> + (2 * kk + r / 2) * kCoreBytes);
    }
  }
}

// The Q operand of S = Q K^T: the descriptor of the warpgroup's 64 rows in shared memory or, with
// C::kQInRegisters, the warp's 16 rows as A fragments (16 columns per k-step).
template <class C>
struct WgmmaQ {
  uint64_t desc;
  uint32_t a[C::kQInRegisters ? C::kHeadDim / 16 : 1][4];
};

// Issues S = Q K^T for the key tile at skj (not committed): B[k = d][n = key] = K[key][d] is
// K-major, laid out like Q; k-steps of 16 columns are two core matrices apart.
template <typename T, class C>
__device__ __forceinline__ void wgmma_scores(float (&s)[C::kKeys / 8][4], const WgmmaQ<C>& q, const T* skj) {
  constexpr int kD = C::kHeadDim;
  const uint64_t k_desc = wgmma_desc(skj, kCoreBytes, kRowGroupBytes<kD>);
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    if constexpr (C::kQInRegisters) {
      wgmma_rs<T, C::kKeys>(s, q.a[kk], wgmma_desc_add(k_desc, 2 * kCoreBytes * kk), kk > 0);
    } else {
      wgmma_ss<T, C::kKeys>(s, wgmma_desc_add(q.desc, 2 * kCoreBytes * kk), wgmma_desc_add(k_desc, 2 * kCoreBytes * kk),
                            kk > 0);
    }
  }
}

// P as the A operand of O += P V: the C fragments of key n-blocks 2 kk, 2 kk + 1 of the softmaxed
// scores are the A fragment of keys 16 kk .. 16 kk + 15.
template <typename T, class C>
__device__ __forceinline__ void wgmma_probs(uint32_t (&pa)[C::kKeys / 16][4], const float (&s)[C::kKeys / 8][4]) {
#pragma unroll
  for (int kk = 0; kk < C::kKeys / 16; ++kk) a_from_c<T>(pa[kk], s[2 * kk], s[2 * kk + 1]);
}

// Issues O += P V for the tile at svj (not committed; after a wgmma_fence): B[k = key][n = d] =
// V[key][d] is N-major (LBO: the next 8 keys, SBO: the next 8 columns); 16 keys are two 8-row
// groups on. O and the P registers must stay untouched until the wait.
template <typename T, class C>
__device__ __forceinline__ void wgmma_pv(float (&o)[C::kHeadDim / 8][4], const uint32_t (&pa)[C::kKeys / 16][4],
                                         const T* svj) {
  constexpr int kD = C::kHeadDim;
  const uint64_t v_desc = wgmma_desc(svj, kRowGroupBytes<kD>, kCoreBytes);
#pragma unroll
  for (int kk = 0; kk < C::kKeys / 16; ++kk) {
    wgmma_rs_bt<T, kD>(o, pa[kk], wgmma_desc_add(v_desc, 2 * kRowGroupBytes<kD> * kk), true);
  }
}

// The Q operand of this warp (Q in shared memory, landed, after blk.load_first).
template <typename T, class C>
__device__ __forceinline__ WgmmaQ<C> wgmma_q(const FwdBlock<T, C>& blk, int warp, int lane) {
  WgmmaQ<C> q;
  q.desc = wgmma_desc(blk.sq + (warp / 4) * 64 * C::kHeadDim, kCoreBytes, kRowGroupBytes<C::kHeadDim>);
  if constexpr (C::kQInRegisters) core_matrix_a_fragments<C::kHeadDim>(q.a, blk.sq, warp, lane / 4, lane % 4);
  return q;
}

// Grid (query tiles of C::kM, H, B), C::kSmemBytes of dynamic shared memory, C::kThreads threads.
template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, C::kBlocksPerSm) wgmma_forward_kernel(const AttentionArgs p) {
  constexpr int kN = C::kKeys;
  const FwdBlock<T, C> blk(p);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, t = lane % 4;
  blk.load_first(p);
  const WgmmaQ<C> q = wgmma_q(blk, warp, lane);
  FwdRows<T, C> w(p, blk.sq, blk.m0, warp, lane);

  for (int it = 0; it < blk.n_tiles; ++it) {
    blk.prefetch(p, it + 1);  // buffer (it + 1) % 2 was last read by wgmma waited for in it - 1
    float s[1][kN / 8][4];
    wgmma_fence();
    wgmma_scores<T, C>(s[0], q, blk.k_buf(it));
    wgmma_commit();
    wgmma_wait<0>();
    wgmma_fence_operand(s[0]);
    if (blk.masked(p, it)) fwd_mask<C>(s, blk.flags(it), it * kN, w.rows, p.causal, t);
    fwd_softmax<C>(s, w.o, w.m_run, w.l_run, w.sc);
    uint32_t pa[kN / 16][4];
    wgmma_probs<T, C>(pa, s[0]);
    wgmma_fence_operand(w.o[0]);  // the rescale of O stays above the fence
    wgmma_fence();
    wgmma_pv<T, C>(w.o[0], pa, blk.v_buf(it));
    wgmma_commit();
    wgmma_wait<0>();
    wgmma_fence_operand(w.o[0]);
    blk.landed();  // tile it + 1 is in for every thread and wgmma; nobody reads buffer it % 2 any more
  }
  w.store(p, blk.b, blk.h, lane);
}

// The wgmma forward with tile it's O += P V in flight during tile it + 1's softmax (the order of
// FlashAttention-3's intra-warpgroup overlap): iteration it issues S(it + 1) = Q K(it + 1)^T and
// then O += P(it) V(it), waits for S(it + 1) alone, masks it and takes its softmax (not touching O),
// then waits for P V, rescales O and turns S(it + 1) into P(it + 1). K and the key flags run one
// tile ahead of V: iteration it waits for K(it + 1), flags(it + 1) and V(it), then loads K(it + 2)
// and flags(it + 2) into the buffers of K(it) and flags(it), and V(it + 1) into V(it - 1)'s (all
// read by work waited for in iteration it - 1).
template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, C::kBlocksPerSm) wgmma_forward_pipelined_kernel(const AttentionArgs p) {
  constexpr int kN = C::kKeys;
  const FwdBlock<T, C> blk(p);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, t = lane % 4;
  const int n_tiles = blk.n_tiles;
  blk.load_first(p);
  const WgmmaQ<C> q = wgmma_q(blk, warp, lane);
  FwdRows<T, C> w(p, blk.sq, blk.m0, warp, lane);
  if (n_tiles == 0) {
    w.store(p, blk.b, blk.h, lane);
    return;
  }
  float s[1][kN / 8][4], alpha[1][2];
  uint32_t pa[kN / 16][4];
  wgmma_fence();
  wgmma_scores<T, C>(s[0], q, blk.k_buf(0));
  wgmma_commit();
  if (n_tiles > 1) {
    blk.load_k(p, 1);
    blk.load_flags(p, 1);
  }
  cp_async_commit();
  wgmma_wait<0>();
  wgmma_fence_operand(s[0]);
  if (blk.masked(p, 0)) fwd_mask<C>(s, blk.flags(0), 0, w.rows, p.causal, t);
  fwd_softmax<C>(s, w.o, w.m_run, w.l_run, w.sc);  // O is still 0
  wgmma_probs<T, C>(pa, s[0]);

  // Every wgmma of an iteration is issued unconditionally (a conditional one makes ptxas serialize
  // them all): the last tile's P V comes after the loop.
  for (int it = 0; it + 1 < n_tiles; ++it) {
    blk.landed();  // K(it + 1), flags(it + 1), V(it) are in; K(it), flags(it), V(it - 1) are free
    if (it + 2 < n_tiles) {
      blk.load_k(p, it + 2);
      blk.load_flags(p, it + 2);
    }
    blk.load_v_only(p, it + 1);
    cp_async_commit();
    wgmma_fence_operand(w.o[0]);
    wgmma_fence();
    wgmma_scores<T, C>(s[0], q, blk.k_buf(it + 1));
    wgmma_commit();
    wgmma_pv<T, C>(w.o[0], pa, blk.v_buf(it));
    wgmma_commit();
    wgmma_wait<1>();  // S(it + 1); P(it) V(it) may still run
    wgmma_fence_operand(s[0]);
    if (blk.masked(p, it + 1)) fwd_mask<C>(s, blk.flags(it + 1), (it + 1) * kN, w.rows, p.causal, t);
    fwd_softmax_scores<C>(s, w.m_run, w.l_run, w.sc, alpha);
    wgmma_wait<0>();
    wgmma_fence_operand(w.o[0]);
    fwd_rescale<C>(w.o, alpha);
    wgmma_probs<T, C>(pa, s[0]);
  }
  blk.landed();  // V(n_tiles - 1) is in
  wgmma_fence_operand(w.o[0]);
  wgmma_fence();
  wgmma_pv<T, C>(w.o[0], pa, blk.v_buf(n_tiles - 1));
  wgmma_commit();
  wgmma_wait<0>();
  wgmma_fence_operand(w.o[0]);
  w.store(p, blk.b, blk.h, lane);
}

}  // namespace attncamp::ops::cuda::attn
