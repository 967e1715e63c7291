// Tensor-core attention forward (FlashAttention-2 structure) for T = __nv_bfloat16 or __half and
// head dim kD in {32, 64, 128}. A block of kWarps warps takes kM queries of one (b, h), each warp
// kTiles x 16 of them, and walks key tiles of kN: S = Q K^T by mma.sync into registers, online
// softmax on the C fragments (row max and sum over the 4 lanes of a quad), P rounded to T and
// reused in registers as the A operand of O += P V. Each K (V) fragment loaded from shared
// memory feeds kTiles row tiles, so kTiles = 2 halves the shared-memory traffic per mma. K and V
// tiles are double-buffered: the cp.async copies of tile j + 1 fly while tile j is computed, one
// __syncthreads per tile. Fragment layouts: ops/cuda/attention_warp.cuh.
#pragma once

#include "ops/cuda/attention_common.cuh"

namespace attncamp::ops::cuda::attn {

// Where the forward's S = Q K^T takes Q from: fragments loaded into registers once per block, or
// read from shared memory again for every key tile (as FlashAttention-2 does), which frees those
// registers (kTiles * kD / 4 per thread) for larger key tiles or more blocks per SM.
enum class QFrom { kRegisters, kSharedMemory };

// Tile shape of the forward kernel: kTiles 16-query tiles per warp, kWarps warps, kN keys per tile,
// kMinBlocks the __launch_bounds__ minimum of blocks per SM; Loop::kPipelined selects
// mma_forward_pipelined_kernel (below), and kQ where Q comes from.
template <int kD, int kTiles, int kN, int kWarps, int kMinBlocks = 1, Loop kLoop = Loop::kPlain,
          QFrom kQ = QFrom::kRegisters>
struct MmaFwdConfig : TileConfig<kD, kTiles, kN, kWarps, kMinBlocks> {
  using Base = TileConfig<kD, kTiles, kN, kWarps, kMinBlocks>;
  static constexpr int kM = Base::kBlockRows, kKeys = kN;  // queries per block, keys per tile
  static constexpr bool kPipelined = kLoop == Loop::kPipelined, kQInSmem = kQ == QFrom::kSharedMemory;
  static constexpr bool kWgmma = false, kQInRegisters = false;  // WgmmaFwdConfig (attention_wgmma_fwd.cuh)
  // sQ [kM][kStride], sK and sV [2][kN][kStride] (16-bit), then key flags [2][kN].
  static constexpr size_t kSmemBytes = size_t{2} * (kM + 4 * kN) * Base::kStride + 2 * kN;
};

// ---- Phases of one key tile, shared by both forward kernels. `s` holds a tile's scores as C
// fragments: element e of n-block j of row tile mt is (row rows[mt][e / 2], key n0 + 8 j + 2 t + e % 2).

// s = Q K^T for the key tile at skj: B[k = d][n = key] = K[key][d], two 8-key n-blocks per ldmatrix,
// each feeding the warp's kTiles row tiles.
// Q's A fragments come from `rows` (FwdRows: registers, or shared memory with C::kQInSmem).
template <typename T, class C, class Rows>
__device__ __forceinline__ void fwd_scores(float (&s)[C::kRowTiles][C::kKeys / 8][4], const Rows& rows, const T* skj,
                                           int lane) {
  constexpr int kD = C::kHeadDim, kN = C::kKeys, kS = C::kStride, kTiles = C::kRowTiles;
#pragma unroll
  for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
    for (int j = 0; j < kN / 8; ++j) s[mt][j][0] = s[mt][j][1] = s[mt][j][2] = s[mt][j][3] = 0.0f;
  }
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    uint32_t qa[kTiles][4];
#pragma unroll
    for (int mt = 0; mt < kTiles; ++mt) rows.q_frag(qa[mt], mt, kk, lane);
#pragma unroll
    for (int nb = 0; nb < kN / 16; ++nb) {
      uint32_t kb[4];
      ldmatrix_x4(kb, skj + (nb * 16 + (lane / 16) * 8 + lane % 8) * kS + kk * 16 + ((lane / 8) % 2) * 8);
#pragma unroll
      for (int mt = 0; mt < kTiles; ++mt) {
        mma_16816<T>(s[mt][2 * nb], qa[mt], kb[0], kb[1]);
        mma_16816<T>(s[mt][2 * nb + 1], qa[mt], kb[2], kb[3]);
      }
    }
  }
}

// Scores of keys a row may not attend (flags skeyj of the tile's keys, causal) become -inf.
template <class C>
__device__ __forceinline__ void fwd_mask(float (&s)[C::kRowTiles][C::kKeys / 8][4], const uint8_t* skeyj, int n0,
                                         const int (&rows)[C::kRowTiles][2], bool causal, int t) {
#pragma unroll
  for (int mt = 0; mt < C::kRowTiles; ++mt) {
#pragma unroll
    for (int j = 0; j < C::kKeys / 8; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = 8 * j + 2 * t + (e & 1);
        if (skeyj[c] == 0 || (causal && n0 + c > rows[mt][e >> 1])) s[mt][j][e] = -INFINITY;
      }
    }
  }
}

// Online softmax per row (the quad, lanes 4g .. 4g+3, holds the row's kN scores): s becomes
// exp2(s * sc - m) with the new running max m (base-2 units), the running sums are rescaled, and
// alpha gets each row's factor for O (fwd_rescale), which this leaves alone.
template <class C>
__device__ __forceinline__ void fwd_softmax_scores(float (&s)[C::kRowTiles][C::kKeys / 8][4],
                                                   float (&m_run)[C::kRowTiles][2], float (&l_run)[C::kRowTiles][2],
                                                   float sc, float (&alpha)[C::kRowTiles][2]) {
  constexpr int kN = C::kKeys;
#pragma unroll
  for (int mt = 0; mt < C::kRowTiles; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;  // of the raw scores
#pragma unroll
      for (int j = 0; j < kN / 8; ++j) mx = fmaxf(mx, fmaxf(s[mt][j][2 * r], s[mt][j][2 * r + 1]));
      mx = fmaxf(mx, shfl_xor(mx, 1));
      mx = fmaxf(mx, shfl_xor(mx, 2));
      const float m_new = fmaxf(m_run[mt][r], mx * sc);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // no finite score yet: everything is 0
      alpha[mt][r] = fast_exp2(m_run[mt][r] - m_use);
      m_run[mt][r] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < kN / 8; ++j) {
        s[mt][j][2 * r] = fast_exp2(fmaf(s[mt][j][2 * r], sc, -m_use));
        s[mt][j][2 * r + 1] = fast_exp2(fmaf(s[mt][j][2 * r + 1], sc, -m_use));
        sum += s[mt][j][2 * r] + s[mt][j][2 * r + 1];
      }
      l_run[mt][r] = l_run[mt][r] * alpha[mt][r] + sum;
    }
  }
}

// O's rows times their softmax factors.
template <class C>
__device__ __forceinline__ void fwd_rescale(float (&o)[C::kRowTiles][C::kHeadDim / 8][4],
                                            const float (&alpha)[C::kRowTiles][2]) {
#pragma unroll
  for (int mt = 0; mt < C::kRowTiles; ++mt) {
#pragma unroll
    for (int dn = 0; dn < C::kHeadDim / 8; ++dn) {
      o[mt][dn][0] *= alpha[mt][0];
      o[mt][dn][1] *= alpha[mt][0];
      o[mt][dn][2] *= alpha[mt][1];
      o[mt][dn][3] *= alpha[mt][1];
    }
  }
}

// Both: the softmax of a tile's scores and O rescaled.
template <class C>
__device__ __forceinline__ void fwd_softmax(float (&s)[C::kRowTiles][C::kKeys / 8][4],
                                            float (&o)[C::kRowTiles][C::kHeadDim / 8][4],
                                            float (&m_run)[C::kRowTiles][2], float (&l_run)[C::kRowTiles][2],
                                            float sc) {
  float alpha[C::kRowTiles][2];
  fwd_softmax_scores<C>(s, m_run, l_run, sc, alpha);
  fwd_rescale<C>(o, alpha);
}

// O += P V: the C fragments of key n-blocks 2 kk and 2 kk + 1 are the A fragment of keys
// 16 kk .. 16 kk + 15; B[k = key][n = d] = V[key][d] via ldmatrix.trans.
template <typename T, class C>
__device__ __forceinline__ void fwd_accumulate(float (&o)[C::kRowTiles][C::kHeadDim / 8][4],
                                               const float (&s)[C::kRowTiles][C::kKeys / 8][4], const T* svj,
                                               int lane) {
  constexpr int kD = C::kHeadDim, kN = C::kKeys, kS = C::kStride, kTiles = C::kRowTiles;
#pragma unroll
  for (int kk = 0; kk < kN / 16; ++kk) {
    uint32_t pa[kTiles][4];
#pragma unroll
    for (int mt = 0; mt < kTiles; ++mt) {
      a_from_c<T>(pa[mt], s[mt][2 * kk], s[mt][2 * kk + 1]);
    }
#pragma unroll
    for (int dp = 0; dp < kD / 16; ++dp) {
      uint32_t vb[4];
      ldmatrix_x4_trans(vb, svj + (kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) * kS + dp * 16 + (lane / 16) * 8);
#pragma unroll
      for (int mt = 0; mt < kTiles; ++mt) {
        mma_16816<T>(o[mt][2 * dp], pa[mt], vb[0], vb[1]);
        mma_16816<T>(o[mt][2 * dp + 1], pa[mt], vb[2], vb[3]);
      }
    }
  }
}

// The warp's part of one block of the forward: Q fragments, output accumulators and softmax state
// of its kTiles x 16 query rows, set up from the block's Q tile (sq) and finished by store().
template <typename T, class C>
struct FwdRows {
  static constexpr int kD = C::kHeadDim, kTiles = C::kRowTiles, kS = C::kStride;
  static constexpr bool kQInSmem = C::kQInSmem;
  // A fragments of Q, per row tile and 16-wide slice of D (unused with kQInSmem: one element).
  uint32_t qa[kQInSmem ? 1 : kTiles][kQInSmem ? 1 : kD / 16][4];
  const T* sq_rows;                          // the warp's first Q row in shared memory
  uint32_t sign;                             // sign bits folded into Q (below)
  float o[kTiles][kD / 8][4];                // C fragments of O, n-block dn = columns 8 dn ..
  float m_run[kTiles][2], l_run[kTiles][2];  // running max (base-2 units), this lane's part of the sum
  int rows[kTiles][2];                       // this thread's query rows (C fragment rows g, g + 8)
  float sc;                                  // |scale| log2 e: exp(x) = exp2(x * log2 e)

  // A negative scale is folded into Q (flipping the sign bits of 16-bit values is exact), so the
  // scores are raw products with a positive multiplier sc: the row max can be taken before
  // scaling and exp2(s * sc - m) is one FFMA and one MUFU per score.
  __device__ __forceinline__ FwdRows(const AttentionArgs& p, const T* sq, int m0, int warp, int lane) {
    const int r0 = warp * 16 * kTiles;  // tile mt covers block rows r0 + 16 mt .. r0 + 16 mt + 15
    sign = p.scale < 0 ? 0x80008000u : 0u;
    sq_rows = sq + r0 * kS;
    sc = fabsf(p.scale) * kLog2e;
#pragma unroll
    for (int mt = 0; mt < kTiles; ++mt) {
      if constexpr (!kQInSmem) {
#pragma unroll
        for (int kk = 0; kk < kD / 16; ++kk) load_q(qa[mt][kk], mt, kk, lane);
      }
      rows[mt][0] = m0 + r0 + 16 * mt + lane / 4;
      rows[mt][1] = rows[mt][0] + 8;
      m_run[mt][0] = m_run[mt][1] = -INFINITY;
      l_run[mt][0] = l_run[mt][1] = 0.0f;
#pragma unroll
      for (int dn = 0; dn < kD / 8; ++dn) o[mt][dn][0] = o[mt][dn][1] = o[mt][dn][2] = o[mt][dn][3] = 0.0f;
    }
  }

  // The A fragment of Q's row tile mt, columns 16 kk .. 16 kk + 15, from shared memory.
  __device__ __forceinline__ void load_q(uint32_t (&a)[4], int mt, int kk, int lane) const {
    ldmatrix_x4(a, sq_rows + (16 * mt + lane % 16) * kS + kk * 16 + (lane / 16) * 8);
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] ^= sign;
  }
  // The same fragment for fwd_scores: held in registers, or loaded again with kQInSmem.
  __device__ __forceinline__ void q_frag(uint32_t (&a)[4], int mt, int kk, int lane) const {
    if constexpr (kQInSmem) {
      load_q(a, mt, kk, lane);
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = qa[mt][kk][i];
    }
  }

  // out = O / l rounded to T and lse = (m + log2 l) ln 2 for the rows below seq_q (rows without an
  // attendable key: out 0, lse -inf).
  __device__ __forceinline__ void store(const AttentionArgs& p, int64_t b, int64_t h, int lane) {
    const int t = lane % 4, seq_q = static_cast<int>(p.seq_q);
    T* out = slice_ptr<T>(p.out, p.out_stride, b, h);
    float* lse = p.lse + (b * p.heads + h) * p.seq_q;
#pragma unroll
    for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float l = l_run[mt][r];
        l += shfl_xor(l, 1);
        l += shfl_xor(l, 2);
        const int i = rows[mt][r];
        if (i >= seq_q) continue;
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        T* orow = out + static_cast<int64_t>(i) * p.out_stride.seq;
#pragma unroll
        for (int dn = 0; dn < kD / 8; ++dn) {
          *reinterpret_cast<uint32_t*>(orow + 8 * dn + 2 * t) =
              pack2<T>(o[mt][dn][2 * r] * inv, o[mt][dn][2 * r + 1] * inv);
        }
        if (t == 0) lse[i] = l > 0.0f ? (m_run[mt][r] + log2f(l)) * kLn2 : -INFINITY;
      }
    }
  }
};

// Key tile it may hold keys some row of the block must not attend (uniform across the block).
__device__ __forceinline__ bool fwd_tile_masked(const AttentionArgs& p, int n0, int n, int m0, int seq_k) {
  return p.key_valid != nullptr || n0 + n > seq_k || (p.causal && n0 + n - 1 > m0);
}

// One block of any forward kernel: its shared memory (sQ [kM][kStride], sK and sV
// [2][kN][kStride], key flags [2][kN]; rows padded for ldmatrix, or with C::kWgmma unpadded
// (kStride = kD) in wgmma's core-matrix order), its queries m0 .. m0 + kM - 1 of slice (b, h) (causal blocks
// with more keys to visit start first), the number of key tiles it visits, and the tile loads.
template <typename T, class C>
struct FwdBlock {
  static constexpr int kD = C::kHeadDim, kM = C::kM, kN = C::kKeys, kS = C::kStride, kThreads = C::kThreads;
  static constexpr TileReader kReader = C::kWgmma ? TileReader::kWgmma : TileReader::kLdmatrix;
  T* sq;
  T* sk;
  T* sv;
  uint8_t* skey;
  int m0, seq_q, seq_k, n_tiles;
  int64_t b, h;
  const T* k;
  const T* v;

  __device__ __forceinline__ explicit FwdBlock(const AttentionArgs& p) {
    sq = reinterpret_cast<T*>(dynamic_smem());
    sk = sq + kM * kS;
    sv = sk + 2 * kN * kS;
    skey = reinterpret_cast<uint8_t*>(sv + 2 * kN * kS);
    const int tile = p.causal ? static_cast<int>(gridDim.x - 1 - blockIdx.x) : static_cast<int>(blockIdx.x);
    m0 = tile * kM;
    h = blockIdx.y;
    b = blockIdx.z;
    seq_q = static_cast<int>(p.seq_q);
    seq_k = static_cast<int>(p.seq_k);
    n_tiles = ((p.causal ? min(seq_k, m0 + kM) : seq_k) + kN - 1) / kN;
    k = slice_ptr<const T>(p.k, p.k_stride, b, h);
    v = slice_ptr<const T>(p.v, p.v_stride, b, h);
  }
  // Q and the first key tile's K, V and flags, landed and visible to every thread (and wgmma) on
  // return; for wgmma a negative scale is folded into Q's sign bits here.
  __device__ __forceinline__ void load_first(const AttentionArgs& p) const {
    load_rows<kM>(sq, slice_ptr<const T>(p.q, p.q_stride, b, h), p.q_stride.seq, m0, seq_q);
    if (n_tiles > 0) {
      load_k(p, 0);
      load_v(p, 0);
    }
    cp_async_commit();
    if constexpr (C::kWgmma) {
      cp_async_wait_all();
      if (p.scale < 0) negate_own_chunks<kM * kD / 8, kThreads>(sq);
    }
    landed();
  }
  // K, V and flags of tile `tile` into buffer tile % 2 if the block visits it, committed.
  __device__ __forceinline__ void prefetch(const AttentionArgs& p, int tile) const {
    if (tile < n_tiles) {
      load_k(p, tile);
      load_v(p, tile);
      cp_async_commit();
    }
  }
  // tiles_landed for this kernel's readers.
  __device__ __forceinline__ static void landed() { tiles_landed<kReader>(); }
  // K of key tile `tile` (keys tile * kN ..) into K buffer tile % 2.
  __device__ __forceinline__ void load_k(const AttentionArgs& p, int tile) const {
    load_rows<kN>(k_buf(tile), k, p.k_stride.seq, tile * kN, seq_k);
  }
  // V and the key flags of key tile `tile` into buffer tile % 2.
  __device__ __forceinline__ void load_v(const AttentionArgs& p, int tile) const {
    load_v_only(p, tile);
    load_flags(p, tile);
  }
  __device__ __forceinline__ void load_v_only(const AttentionArgs& p, int tile) const {
    load_rows<kN>(v_buf(tile), v, p.v_stride.seq, tile * kN, seq_k);
  }
  __device__ __forceinline__ void load_flags(const AttentionArgs& p, int tile) const {  // plain stores
    load_key_flags<kN, kThreads>(flags(tile), p, b, tile * kN);
  }
  template <int kRows>
  __device__ __forceinline__ static void load_rows(T* tile, const T* slice, int64_t seq_stride, int row0, int n) {
    load_rows_async<T, kRows, kD, kThreads, kReader>(tile, slice, seq_stride, row0, n);
  }
  __device__ __forceinline__ T* k_buf(int tile) const { return sk + (tile & 1) * kN * kS; }
  __device__ __forceinline__ T* v_buf(int tile) const { return sv + (tile & 1) * kN * kS; }
  __device__ __forceinline__ uint8_t* flags(int tile) const { return skey + (tile & 1) * kN; }
  __device__ __forceinline__ bool masked(const AttentionArgs& p, int tile) const {
    return fwd_tile_masked(p, tile * kN, kN, m0, seq_k);
  }
};

// Grid (query tiles of C::kM, H, B), C::kSmemBytes of dynamic shared memory.
template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, C::kBlocksPerSm) mma_forward_kernel(const AttentionArgs p) {
  const FwdBlock<T, C> blk(p);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, t = lane % 4;
  blk.load_first(p);
  FwdRows<T, C> w(p, blk.sq, blk.m0, warp, lane);

  for (int it = 0; it < blk.n_tiles; ++it) {
    blk.prefetch(p, it + 1);  // buffer (it + 1) % 2 was last read before iteration it - 1's barrier
    float s[C::kRowTiles][C::kKeys / 8][4];
    fwd_scores<T, C>(s, w, blk.k_buf(it), lane);
    if (blk.masked(p, it)) fwd_mask<C>(s, blk.flags(it), it * C::kKeys, w.rows, p.causal, t);
    fwd_softmax<C>(s, w.o, w.m_run, w.l_run, w.sc);
    fwd_accumulate<T, C>(w.o, s, blk.v_buf(it), lane);
    blk.landed();  // tile it + 1 is in for every thread, and nobody reads buffer it % 2 any more
  }
  w.store(p, blk.b, blk.h, lane);
}

// The forward with the next tile's scores in flight: in iteration it the warp issues
// S(it + 1) = Q K(it + 1)^T before the softmax and P V of tile it, all in one straight stretch of
// code (the mask, when the tile needs it, takes a second copy), so the scheduler can overlap the
// tensor-core work of one tile with the exp and FMA work of the other. K runs one tile ahead of V:
// iteration it waits for K(it + 1), V(it) and flags(it), then loads K(it + 2) into K(it)'s buffer
// and V(it + 1), flags(it + 1) into V(it - 1)'s (both read before that wait's __syncthreads). Two
// score arrays alternate roles (the loop is unrolled by two), so it needs the registers of two
// tiles of scores: a tune candidate for small tiles (benchmarks/gpu/attention_tune.cu).
template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, C::kBlocksPerSm) mma_forward_pipelined_kernel(const AttentionArgs p) {
  const FwdBlock<T, C> blk(p);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, t = lane % 4;
  const int n_tiles = blk.n_tiles;
  blk.load_first(p);
  FwdRows<T, C> w(p, blk.sq, blk.m0, warp, lane);
  if (n_tiles == 0) {
    w.store(p, blk.b, blk.h, lane);
    return;
  }
  float s0[C::kRowTiles][C::kKeys / 8][4], s1[C::kRowTiles][C::kKeys / 8][4];
  fwd_scores<T, C>(s0, w, blk.k_buf(0), lane);
  if (n_tiles > 1) blk.load_k(p, 1);
  cp_async_commit();

  // Tile it's softmax and P V on `cur` (its scores), with tile it + 1's scores into `nxt`.
  auto step = [&](int it, auto& cur, auto& nxt) {
    blk.landed();  // K(it + 1), V(it), flags(it) are in; K(it) and V(it - 1) are no longer read
    if (it + 2 < n_tiles) blk.load_k(p, it + 2);
    if (it + 1 < n_tiles) blk.load_v(p, it + 1);
    cp_async_commit();
    const bool masked = blk.masked(p, it);
    if (it + 1 < n_tiles && !masked) {
      fwd_scores<T, C>(nxt, w, blk.k_buf(it + 1), lane);
      fwd_softmax<C>(cur, w.o, w.m_run, w.l_run, w.sc);
      fwd_accumulate<T, C>(w.o, cur, blk.v_buf(it), lane);
    } else {
      if (it + 1 < n_tiles) fwd_scores<T, C>(nxt, w, blk.k_buf(it + 1), lane);
      if (masked) fwd_mask<C>(cur, blk.flags(it), it * C::kKeys, w.rows, p.causal, t);
      fwd_softmax<C>(cur, w.o, w.m_run, w.l_run, w.sc);
      fwd_accumulate<T, C>(w.o, cur, blk.v_buf(it), lane);
    }
  };
  for (int it = 0; it < n_tiles; it += 2) {
    step(it, s0, s1);
    if (it + 1 < n_tiles) step(it + 1, s1, s0);
  }
  cp_async_wait_all();  // nothing is in flight (the last commits were empty); the wait is for form
  w.store(p, blk.b, blk.h, lane);
}

}  // namespace attncamp::ops::cuda::attn
