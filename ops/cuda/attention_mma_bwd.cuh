// Tensor-core attention backward (FlashAttention-2 structure) for T = __nv_bfloat16 or __half
// and head dim kD in {32, 64, 128}. Probabilities are recomputed from the saved lse,
// P = exp2(S * scale * log2 e - lse * log2 e), with delta = rowsum(dO * O) precomputed
// (attention_delta_kernel). Two ways to get dQ:
//   mma_dkdv_kernel: a block owns kKeys keys (kTiles x 16 per warp) and walks query tiles,
//     computing the transposed products S^T = K Q^T and dP^T = V dO^T, so P^T and
//     dS^T = P^T (dP^T - delta) are C fragments with the warp's keys as rows: reused as A
//     operands of dV += P^T dO and dK += dS^T Q.
//     With DkdvDq::kAtomic (the default backward) it also stores dS^T in shared memory and adds
//     each query tile's dQ part dS K (over the block's keys) to an f32 [B,H,Sq,D] workspace with
//     atomics: 5 products per (query, key) tile instead of 7, in an order that varies from run
//     to run; mma_dq_convert_kernel then scales and rounds the sums into dq.
//   mma_dq_kernel (the deterministic backward, with mma_dkdv_kernel without dQ): a block owns
//     kRows queries (kTiles x 16 per warp) and walks key tiles: S = Q K^T, dP = dO V^T,
//     dS = P (dP - delta), dQ += dS K; every dq element is written by one thread, in one order.
// Each B fragment loaded from shared memory feeds the warp's kTiles row tiles.
// The walked tiles are double-buffered: the cp.async copies of tile j + 1 fly while tile j is
// computed, one __syncthreads per tile. Fragment layouts: ops/cuda/attention_warp.cuh.
#pragma once

#include "ops/cuda/attention_common.cuh"

namespace attncamp::ops::cuda::attn {

// What the dK/dV kernel does with dQ: nothing (the deterministic backward's dQ kernel computes
// it), or sum each query tile's part into p.dq_accum with atomics (the default backward).
enum class DkdvDq { kNone, kAtomic };

// Tile shape of the dK/dV kernel: kTiles 16-key tiles per warp, kWarps warps, kQueries queries
// per walked tile.
template <int kD, int kTiles, int kQueries, int kWarps, int kMinBlocks = 1>
struct MmaDkdvConfig : TileConfig<kD, kTiles, kQueries, kWarps, kMinBlocks> {
  using Base = TileConfig<kD, kTiles, kQueries, kWarps, kMinBlocks>;
  static constexpr int kKeys = Base::kBlockRows, kTileQueries = kQueries;            // keys per block, queries per tile
  static constexpr bool kWgmma = false, kKvInRegisters = false, kPipelined = false;  // see WgmmaDkdvConfig
  // sK, sV [kKeys][kStride], sQ, sdO [2][kQueries][kStride] (16-bit), lse and delta [2][kQueries]
  // (f32), key flags [kKeys].
  static constexpr size_t kSmemBytes =
      size_t{2} * 2 * (kKeys + 2 * kQueries) * Base::kStride + sizeof(float) * 4 * kQueries + kKeys;
  // With DkdvDq::kAtomic: dS^T [kKeys][kDsStride] (16-bit) after the key flags, 16-byte aligned.
  // Rows of kQueries + 8 elements keep the fragment stores and the ldmatrix reads conflict-free.
  static constexpr int kDsStride = kQueries + 8;
  static constexpr size_t kDsOffset = (kSmemBytes + 15) / 16 * 16;
  static constexpr size_t kSmemBytesDq = kDsOffset + size_t{2} * kKeys * kDsStride;
  // The dQ part of a query tile (kQueries x kD) is split among the warps: warp w takes query row
  // tile w % kDqRowTiles and kDqDims head dims starting at (w / kDqRowTiles) * kDqDims.
  static constexpr int kDqRowTiles = kQueries / 16;
  static constexpr int kDqDims = kD / (kWarps / (kDqRowTiles < kWarps ? kDqRowTiles : kWarps));
  static constexpr bool kDqSplits =
      kWarps % kDqRowTiles == 0 && kDqDims % 16 == 0 && kDqDims * (kWarps / kDqRowTiles) == kD;  // every dim
  static constexpr size_t smem_bytes(DkdvDq dq) { return dq == DkdvDq::kAtomic ? kSmemBytesDq : kSmemBytes; }
};

// Tile shape of the dQ kernel: kTiles 16-query tiles per warp, kWarps warps, kN keys per walked
// tile.
template <int kD, int kTiles, int kN, int kWarps, int kMinBlocks = 1>
struct MmaDqConfig : TileConfig<kD, kTiles, kN, kWarps, kMinBlocks> {
  using Base = TileConfig<kD, kTiles, kN, kWarps, kMinBlocks>;
  static constexpr int kRows = Base::kBlockRows, kTileKeys = kN;  // queries per block, keys per tile
  // sQ, sdO [kRows][kStride], sK, sV [2][kN][kStride] (16-bit), key flags [2][kN].
  static constexpr size_t kSmemBytes = size_t{2} * 2 * (kRows + 2 * kN) * Base::kStride + 2 * kN;
};

// dst[0..1] += (x, y) with atomics (one 8-byte vector reduction on sm_90, two 4-byte ones before).
__device__ __forceinline__ void atomic_add2(float* dst, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(dst), make_float2(x, y));
#else
  atomicAdd(dst, x);
  atomicAdd(dst + 1, y);
#endif
}

// dQ[m0 + i][:] += sum over the block's keys of dS[i][key] K[key][:] for the warp's part of the
// query tile (C::kDqRowTiles x C::kDqDims split), added to p.dq_accum with atomics; queries past
// seq_q are skipped. A = dS from sds ([key][query], so ldmatrix.trans), B[k = key][n = d] =
// K[key][d] via ldmatrix.trans.
template <typename T, class C>
__device__ __forceinline__ void add_dq_part(const AttentionArgs& p, const T* sds, const T* sk, int64_t b, int64_t h,
                                            int m0, int warp, int lane) {
  constexpr int kD = C::kHeadDim, kN = C::kKeys, kS = C::kStride, kDs = C::kDsStride, kDims = C::kDqDims;
  const int qt = warp % C::kDqRowTiles, d0 = (warp / C::kDqRowTiles) * kDims;
  const int g = lane / 4, t = lane % 4;
  float dq[kDims / 8][4] = {};
#pragma unroll
  for (int kk = 0; kk < kN / 16; ++kk) {
    uint32_t dsa[4];
    ldmatrix_x4_trans(dsa, sds + (kk * 16 + (lane / 16) * 8 + lane % 8) * kDs + qt * 16 + ((lane / 8) % 2) * 8);
#pragma unroll
    for (int dn = 0; dn < kDims / 16; ++dn) {
      uint32_t kb[4];
      ldmatrix_x4_trans(kb, sk + (kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) * kS + d0 + dn * 16 + (lane / 16) * 8);
      mma_16816<T>(dq[2 * dn], dsa, kb[0], kb[1]);
      mma_16816<T>(dq[2 * dn + 1], dsa, kb[2], kb[3]);
    }
  }
  const int seq_q = static_cast<int>(p.seq_q);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i = m0 + qt * 16 + g + 8 * r;
    if (i >= seq_q) continue;
    float* row = p.dq_accum + ((b * p.heads + h) * p.seq_q + i) * kD + d0;
#pragma unroll
    for (int nb = 0; nb < kDims / 8; ++nb) atomic_add2(row + 8 * nb + 2 * t, dq[nb][2 * r], dq[nb][2 * r + 1]);
  }
}

// The key side of a dK/dV block: K and V rows n0 .. n0 + kN - 1 (zero past seq_k; laid out for
// kReader) and the key flags, asynchronously but the flags.
template <typename T, int kN, int kD, int kThreads, TileReader kReader>
__device__ __forceinline__ void dkdv_load_keys(T* sk, T* sv, uint8_t* skey, const AttentionArgs& p, int64_t b,
                                               int64_t h, int n0) {
  const int seq_k = static_cast<int>(p.seq_k);
  load_rows_async<T, kN, kD, kThreads, kReader>(sk, slice_ptr<const T>(p.k, p.k_stride, b, h), p.k_stride.seq, n0,
                                                seq_k);
  load_rows_async<T, kN, kD, kThreads, kReader>(sv, slice_ptr<const T>(p.v, p.v_stride, b, h), p.v_stride.seq, n0,
                                                seq_k);
  load_key_flags<kN, kThreads>(skey, p, b, n0);
}

// The query side of a dK/dV block (b, h): Q, dO, lse and delta of its slice, and the loads of a
// query tile (Q and dO rows m0 .. m0 + kM - 1 laid out for kReader, lse and delta; zero past
// seq_q), asynchronously.
template <typename T, int kM, int kD, int kThreads, TileReader kReader>
struct DkdvQueries {
  const T* q;
  const T* dout;
  const float* lse;
  const float* delta;
  int seq_q;
  __device__ __forceinline__ DkdvQueries(const AttentionArgs& p, int64_t b, int64_t h)
      : q(slice_ptr<const T>(p.q, p.q_stride, b, h)),
        dout(slice_ptr<const T>(p.dout, p.out_stride, b, h)),
        lse(p.lse + (b * p.heads + h) * p.seq_q),
        delta(p.delta + (b * p.heads + h) * p.seq_q),
        seq_q(static_cast<int>(p.seq_q)) {}
  __device__ __forceinline__ void load(const AttentionArgs& p, T* sq, T* sdo, float* slse, float* sdelta,
                                       int m0) const {
    load_rows_async<T, kM, kD, kThreads, kReader>(sq, q, p.q_stride.seq, m0, seq_q);
    load_rows_async<T, kM, kD, kThreads, kReader>(sdo, dout, p.out_stride.seq, m0, seq_q);
    load_floats_async<kM, kThreads>(slse, lse, m0, seq_q);
    load_floats_async<kM, kThreads>(sdelta, delta, m0, seq_q);
  }
};

// P^T and dS^T = P^T (dP^T - delta) in place of S^T and dP^T (C fragments of a query tile: element
// e of n-block j of row tile mt is (key n0 + key_local[mt][e / 2], query m0 + 8 j + 2 t + e % 2)).
// Queries past seq_q and queries without attendable keys get lse2 = +inf, so P^T = 0 there; a tile
// whose queries attend all the block's kN keys skips the mask (uniform across the block).
template <int kN, int kTiles, int kCols>
__device__ __forceinline__ void dkdv_probs(float (&st)[kTiles][kCols][4], float (&dpt)[kTiles][kCols][4],
                                           const AttentionArgs& p, const uint8_t* skey, const float* slsej,
                                           const float* sdeltaj, const int (&key_local)[kTiles][2], int n0, int m0,
                                           int t) {
  const int seq_q = static_cast<int>(p.seq_q), seq_k = static_cast<int>(p.seq_k);
  const float scale2 = p.scale * kLog2e;
  const bool masked = p.key_valid != nullptr || n0 + kN > seq_k || (p.causal && n0 + kN - 1 > m0);
#pragma unroll
  for (int j = 0; j < kCols; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int c = 8 * j + 2 * t + (e & 1);
      const float neg_lse2 = -lse2_of(slsej[c], m0 + c < seq_q), delta = sdeltaj[c];
#pragma unroll
      for (int mt = 0; mt < kTiles; ++mt) {
        const int kl = key_local[mt][e >> 1];
        const bool ok = !masked || (skey[kl] != 0 && (!p.causal || n0 + kl <= m0 + c));
        const float pt = ok ? fast_exp2(fmaf(st[mt][j][e], scale2, neg_lse2)) : 0.0f;
        st[mt][j][e] = pt;
        dpt[mt][j][e] = pt * (dpt[mt][j][e] - delta);
      }
    }
  }
}

// dK (scaled) and dV of the warp's keys n0 + key_local[mt][r] below seq_k, rounded to T.
template <typename T, int kTiles, int kD>
__device__ __forceinline__ void dkdv_store(const AttentionArgs& p, const float (&dk)[kTiles][kD / 8][4],
                                           const float (&dv)[kTiles][kD / 8][4], const int (&key_local)[kTiles][2],
                                           int n0, int64_t b, int64_t h, int t) {
  T* gk = slice_ptr<T>(p.dk, p.k_stride, b, h);
  T* gv = slice_ptr<T>(p.dv, p.v_stride, b, h);
#pragma unroll
  for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int j = n0 + key_local[mt][r];
      if (j >= p.seq_k) continue;
      T* krow = gk + static_cast<int64_t>(j) * p.k_stride.seq;
      T* vrow = gv + static_cast<int64_t>(j) * p.v_stride.seq;
#pragma unroll
      for (int dn = 0; dn < kD / 8; ++dn) {
        *reinterpret_cast<uint32_t*>(krow + 8 * dn + 2 * t) =
            pack2<T>(dk[mt][dn][2 * r] * p.scale, dk[mt][dn][2 * r + 1] * p.scale);
        *reinterpret_cast<uint32_t*>(vrow + 8 * dn + 2 * t) = pack2<T>(dv[mt][dn][2 * r], dv[mt][dn][2 * r + 1]);
      }
    }
  }
}

// Grid (key tiles of C::kKeys, H, B); C::smem_bytes(kDqForm) of dynamic shared memory. With
// DkdvDq::kAtomic, p.dq_accum (zeroed beforehand) receives the unscaled dQ sums.
template <typename T, class C, DkdvDq kDqForm = DkdvDq::kNone>
__global__ void __launch_bounds__(C::kThreads, C::kBlocksPerSm) mma_dkdv_kernel(const AttentionArgs p) {
  constexpr int kD = C::kHeadDim, kN = C::kKeys, kM = C::kTileQueries, kS = C::kStride, kThreads = C::kThreads;
  constexpr int kTiles = C::kRowTiles;
  constexpr bool kDq = kDqForm == DkdvDq::kAtomic;
  static_assert(!kDq || C::kDqSplits, "dQ tile does not split evenly among the warps");
  T* sk = reinterpret_cast<T*>(dynamic_smem());
  T* sv = sk + kN * kS;
  T* sq = sv + kN * kS;                                          // [2][kM][kS]
  T* sdo = sq + 2 * kM * kS;                                     // [2][kM][kS]
  float* slse = reinterpret_cast<float*>(sdo + 2 * kM * kS);     // [2][kM]: lse of query m0 + c (0 past seq_q)
  float* sdelta = slse + 2 * kM;                                 // [2][kM]: delta of query m0 + c (0 past seq_q)
  uint8_t* skey = reinterpret_cast<uint8_t*>(sdelta + 2 * kM);   // [kN]: key n0 + c may be attended
  T* sds = reinterpret_cast<T*>(dynamic_smem() + C::kDsOffset);  // kDq: [kN][kDsStride], dS^T of the tile

  const int n0 = blockIdx.x * kN;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int seq_q = static_cast<int>(p.seq_q);
  const int m_begin = p.causal ? n0 / kM * kM : 0;  // causal: only queries i >= n0
  const int m_tiles = m_begin < seq_q ? (seq_q - m_begin + kM - 1) / kM : 0;
  // Query tile `tile_q` (queries m_begin + tile_q * kM ..) into buffer tile_q % 2.
  const DkdvQueries<T, kM, kD, kThreads, TileReader::kLdmatrix> queries(p, b, h);
  auto load_queries = [&](int tile_q) {
    const int buf = tile_q & 1;
    queries.load(p, sq + buf * kM * kS, sdo + buf * kM * kS, slse + buf * kM, sdelta + buf * kM, m_begin + tile_q * kM);
  };
  dkdv_load_keys<T, kN, kD, kThreads, TileReader::kLdmatrix>(sk, sv, skey, p, b, h, n0);
  if (m_tiles > 0) load_queries(0);
  cp_async_commit();
  tiles_landed<TileReader::kLdmatrix>();

  float dk[kTiles][kD / 8][4] = {};  // C fragments: rows = the warp's keys, n-block dn = dims 8 dn ..
  float dv[kTiles][kD / 8][4] = {};
  const int r0 = warp * 16 * kTiles;  // the warp's first key (block-local); tile mt: r0 + 16 mt ..
  int key_local[kTiles][2];           // this thread's C-fragment rows
#pragma unroll
  for (int mt = 0; mt < kTiles; ++mt) {
    key_local[mt][0] = r0 + 16 * mt + g;
    key_local[mt][1] = key_local[mt][0] + 8;
  }
  for (int it = 0; it < m_tiles; ++it) {
    // Buffer (it + 1) % 2 was last read in iteration it - 1, before its closing __syncthreads.
    if (it + 1 < m_tiles) {
      load_queries(it + 1);
      cp_async_commit();
    }
    const int m0 = m_begin + it * kM;
    const T* sqj = sq + (it & 1) * kM * kS;
    const T* sdoj = sdo + (it & 1) * kM * kS;
    const float* slsej = slse + (it & 1) * kM;
    const float* sdeltaj = sdelta + (it & 1) * kM;

    // S^T = K Q^T and dP^T = V dO^T: A = the warp's 16-key row tiles of K (V); B[k = d][n =
    // query] = Q[query][d] (dO[query][d]), two 8-query n-blocks per ldmatrix.
    float st[kTiles][kM / 8][4] = {};
    float dpt[kTiles][kM / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      uint32_t ka[kTiles][4], va[kTiles][4];
#pragma unroll
      for (int mt = 0; mt < kTiles; ++mt) {
        ldmatrix_x4(ka[mt], sk + (r0 + 16 * mt + lane % 16) * kS + kk * 16 + (lane / 16) * 8);
        ldmatrix_x4(va[mt], sv + (r0 + 16 * mt + lane % 16) * kS + kk * 16 + (lane / 16) * 8);
      }
#pragma unroll
      for (int nb = 0; nb < kM / 16; ++nb) {
        const int row = (nb * 16 + (lane / 16) * 8 + lane % 8) * kS + kk * 16 + ((lane / 8) % 2) * 8;
        uint32_t qb[4], ob[4];
        ldmatrix_x4(qb, sqj + row);
        ldmatrix_x4(ob, sdoj + row);
#pragma unroll
        for (int mt = 0; mt < kTiles; ++mt) {
          mma_16816<T>(st[mt][2 * nb], ka[mt], qb[0], qb[1]);
          mma_16816<T>(st[mt][2 * nb + 1], ka[mt], qb[2], qb[3]);
          mma_16816<T>(dpt[mt][2 * nb], va[mt], ob[0], ob[1]);
          mma_16816<T>(dpt[mt][2 * nb + 1], va[mt], ob[2], ob[3]);
        }
      }
    }
    dkdv_probs<kN>(st, dpt, p, skey, slsej, sdeltaj, key_local, n0, m0, t);
    if constexpr (kDq) {
      // dS^T as T into shared memory, row = the block-local key, column = the tile's query. The
      // previous tile's readers are done (the closing __syncthreads of the last iteration).
#pragma unroll
      for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
        for (int j = 0; j < kM / 8; ++j) {
#pragma unroll
          for (int r = 0; r < 2; ++r) {
            *reinterpret_cast<uint32_t*>(sds + key_local[mt][r] * C::kDsStride + 8 * j + 2 * t) =
                pack2<T>(dpt[mt][j][2 * r], dpt[mt][j][2 * r + 1]);
          }
        }
      }
    }
    // dV += P^T dO and dK += dS^T Q: the C fragments of query n-blocks 2 kk and 2 kk + 1 are
    // the A fragment of queries 16 kk .. 16 kk + 15; B[k = query][n = d] via ldmatrix.trans.
#pragma unroll
    for (int kk = 0; kk < kM / 16; ++kk) {
      uint32_t pa[kTiles][4], dsa[kTiles][4];
#pragma unroll
      for (int mt = 0; mt < kTiles; ++mt) {
        a_from_c<T>(pa[mt], st[mt][2 * kk], st[mt][2 * kk + 1]);
        a_from_c<T>(dsa[mt], dpt[mt][2 * kk], dpt[mt][2 * kk + 1]);
      }
#pragma unroll
      for (int dp = 0; dp < kD / 16; ++dp) {
        const int row = (kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) * kS + dp * 16 + (lane / 16) * 8;
        uint32_t ob[4], qb[4];
        ldmatrix_x4_trans(ob, sdoj + row);
        ldmatrix_x4_trans(qb, sqj + row);
#pragma unroll
        for (int mt = 0; mt < kTiles; ++mt) {
          mma_16816<T>(dv[mt][2 * dp], pa[mt], ob[0], ob[1]);
          mma_16816<T>(dv[mt][2 * dp + 1], pa[mt], ob[2], ob[3]);
          mma_16816<T>(dk[mt][2 * dp], dsa[mt], qb[0], qb[1]);
          mma_16816<T>(dk[mt][2 * dp + 1], dsa[mt], qb[2], qb[3]);
        }
      }
    }
    if constexpr (kDq) {
      __syncthreads();  // every warp's dS^T is in sds
      add_dq_part<T, C>(p, sds, sk, b, h, m0, warp, lane);
    }
    // Tile it + 1 is in for every thread; nobody reads buffer it % 2 any more.
    tiles_landed<TileReader::kLdmatrix>();
  }

  // Every key of the tile is written (masked keys and keys no query reaches get 0).
  dkdv_store<T, kTiles, kD>(p, dk, dv, key_local, n0, b, h, t);
}

// Grid (query tiles of C::kRows, H, B).
template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, C::kBlocksPerSm) mma_dq_kernel(const AttentionArgs p) {
  constexpr int kD = C::kHeadDim, kM = C::kRows, kN = C::kTileKeys, kS = C::kStride, kThreads = C::kThreads;
  constexpr int kTiles = C::kRowTiles;
  T* sq = reinterpret_cast<T*>(dynamic_smem());
  T* sdo = sq + kM * kS;
  T* sk = sdo + kM * kS;                                         // [2][kN][kS]
  T* sv = sk + 2 * kN * kS;                                      // [2][kN][kS]
  uint8_t* skey = reinterpret_cast<uint8_t*>(sv + 2 * kN * kS);  // [2][kN]: key n0 + c may be attended

  const int tile = p.causal ? static_cast<int>(gridDim.x - 1 - blockIdx.x) : static_cast<int>(blockIdx.x);
  const int m0 = tile * kM;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int seq_q = static_cast<int>(p.seq_q), seq_k = static_cast<int>(p.seq_k);
  const T* k = slice_ptr<const T>(p.k, p.k_stride, b, h);
  const T* v = slice_ptr<const T>(p.v, p.v_stride, b, h);
  // Key tile `tile_k` (keys tile_k * kN ..) into buffer tile_k % 2.
  auto load_keys = [&](int tile_k) {
    const int buf = tile_k & 1;
    load_tile_async<T, kN, kD, kThreads>(sk + buf * kN * kS, k, p.k_stride.seq, tile_k * kN, seq_k);
    load_tile_async<T, kN, kD, kThreads>(sv + buf * kN * kS, v, p.v_stride.seq, tile_k * kN, seq_k);
    load_key_flags<kN, kThreads>(skey + buf * kN, p, b, tile_k * kN);
  };
  load_tile_async<T, kM, kD, kThreads>(sq, slice_ptr<const T>(p.q, p.q_stride, b, h), p.q_stride.seq, m0, seq_q);
  load_tile_async<T, kM, kD, kThreads>(sdo, slice_ptr<const T>(p.dout, p.out_stride, b, h), p.out_stride.seq, m0,
                                       seq_q);
  const int n_tiles = ((p.causal ? min(seq_k, m0 + kM) : seq_k) + kN - 1) / kN;
  if (n_tiles > 0) load_keys(0);
  cp_async_commit();
  const float* lse_bh = p.lse + (b * p.heads + h) * p.seq_q;
  const float* delta_bh = p.delta + (b * p.heads + h) * p.seq_q;
  const int r0 = warp * 16 * kTiles;  // the warp's first query (block-local); tile mt: r0 + 16 mt ..
  int rows[kTiles][2];                // this thread's C-fragment rows
  float neg_lse2[kTiles][2], delta[kTiles][2];
#pragma unroll
  for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      rows[mt][r] = m0 + r0 + 16 * mt + g + 8 * r;
      neg_lse2[mt][r] = -lse_log2(lse_bh, rows[mt][r], seq_q);  // -inf past seq_q or without keys: P = 0
      delta[mt][r] = rows[mt][r] < seq_q ? delta_bh[rows[mt][r]] : 0.0f;
    }
  }
  cp_async_wait_all();
  __syncthreads();

  const float scale2 = p.scale * kLog2e;
  float dq[kTiles][kD / 8][4] = {};
  for (int it = 0; it < n_tiles; ++it) {
    // Buffer (it + 1) % 2 was last read in iteration it - 1, before its closing __syncthreads.
    if (it + 1 < n_tiles) {
      load_keys(it + 1);
      cp_async_commit();
    }
    const int n0 = it * kN;
    const T* skj = sk + (it & 1) * kN * kS;
    const T* svj = sv + (it & 1) * kN * kS;
    const uint8_t* skeyj = skey + (it & 1) * kN;

    // S = Q K^T and dP = dO V^T: A = the warp's 16-row tiles of Q (dO); B[k = d][n = key] =
    // K[key][d] (V[key][d]).
    float s[kTiles][kN / 8][4] = {};
    float dp[kTiles][kN / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      uint32_t qa[kTiles][4], oa[kTiles][4];
#pragma unroll
      for (int mt = 0; mt < kTiles; ++mt) {
        ldmatrix_x4(qa[mt], sq + (r0 + 16 * mt + lane % 16) * kS + kk * 16 + (lane / 16) * 8);
        ldmatrix_x4(oa[mt], sdo + (r0 + 16 * mt + lane % 16) * kS + kk * 16 + (lane / 16) * 8);
      }
#pragma unroll
      for (int nb = 0; nb < kN / 16; ++nb) {
        const int row = (nb * 16 + (lane / 16) * 8 + lane % 8) * kS + kk * 16 + ((lane / 8) % 2) * 8;
        uint32_t kb[4], vb[4];
        ldmatrix_x4(kb, skj + row);
        ldmatrix_x4(vb, svj + row);
#pragma unroll
        for (int mt = 0; mt < kTiles; ++mt) {
          mma_16816<T>(s[mt][2 * nb], qa[mt], kb[0], kb[1]);
          mma_16816<T>(s[mt][2 * nb + 1], qa[mt], kb[2], kb[3]);
          mma_16816<T>(dp[mt][2 * nb], oa[mt], vb[0], vb[1]);
          mma_16816<T>(dp[mt][2 * nb + 1], oa[mt], vb[2], vb[3]);
        }
      }
    }
    // Element e of n-block j is (query rows[mt][e / 2], key n0 + 8 j + 2 t + e % 2); s becomes
    // dS. A tile whose keys are all attendable by every row of the block skips the mask.
    const bool masked = p.key_valid != nullptr || n0 + kN > seq_k || (p.causal && n0 + kN - 1 > m0);
#pragma unroll
    for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
      for (int j = 0; j < kN / 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int c = 8 * j + 2 * t + (e & 1);
          const int r = e >> 1;
          const bool ok = !masked || (skeyj[c] != 0 && (!p.causal || n0 + c <= rows[mt][r]));
          const float prob = ok ? fast_exp2(fmaf(s[mt][j][e], scale2, neg_lse2[mt][r])) : 0.0f;
          s[mt][j][e] = prob * (dp[mt][j][e] - delta[mt][r]);
        }
      }
    }
    // dQ += dS K: A from the C fragments of key n-blocks 2 kk, 2 kk + 1; B[k = key][n = d] =
    // K[key][d] via ldmatrix.trans.
#pragma unroll
    for (int kk = 0; kk < kN / 16; ++kk) {
      uint32_t dsa[kTiles][4];
#pragma unroll
      for (int mt = 0; mt < kTiles; ++mt) {
        a_from_c<T>(dsa[mt], s[mt][2 * kk], s[mt][2 * kk + 1]);
      }
#pragma unroll
      for (int dn = 0; dn < kD / 16; ++dn) {
        uint32_t kb[4];
        ldmatrix_x4_trans(kb, skj + (kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) * kS + dn * 16 + (lane / 16) * 8);
#pragma unroll
        for (int mt = 0; mt < kTiles; ++mt) {
          mma_16816<T>(dq[mt][2 * dn], dsa[mt], kb[0], kb[1]);
          mma_16816<T>(dq[mt][2 * dn + 1], dsa[mt], kb[2], kb[3]);
        }
      }
    }
    cp_async_wait_all();  // tile it + 1 has landed (this thread's copies) ...
    __syncthreads();      // ... for every thread, and nobody reads buffer it % 2 any more
  }

  T* gq = slice_ptr<T>(p.dq, p.q_stride, b, h);
#pragma unroll
  for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      if (rows[mt][r] >= seq_q) continue;
      T* qrow = gq + static_cast<int64_t>(rows[mt][r]) * p.q_stride.seq;
#pragma unroll
      for (int dn = 0; dn < kD / 8; ++dn) {
        *reinterpret_cast<uint32_t*>(qrow + 8 * dn + 2 * t) =
            pack2<T>(dq[mt][dn][2 * r] * p.scale, dq[mt][dn][2 * r + 1] * p.scale);
      }
    }
  }
}

// dq = scale * dq_accum rounded to T: dq_accum [B,H,Sq,kD] f32 (contiguous), dq strides
// p.q_stride. Each thread converts 8 consecutive elements of a row (32-byte load, 16-byte store).
template <typename T, int kD>
__global__ void mma_dq_convert_kernel(const AttentionArgs p) {
  constexpr int kChunks = kD / 8;
  const int64_t n = p.batch * p.heads * p.seq_q * kChunks;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < n;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = c / kChunks, i = row % p.seq_q, bh = row / p.seq_q;
    const int64_t h = bh % p.heads, b = bh / p.heads;
    const int col = static_cast<int>(c % kChunks) * 8;
    const float4* src = reinterpret_cast<const float4*>(p.dq_accum + row * kD + col);
    const float4 x = src[0], y = src[1];
    uint4 out;
    out.x = pack2<T>(x.x * p.scale, x.y * p.scale);
    out.y = pack2<T>(x.z * p.scale, x.w * p.scale);
    out.z = pack2<T>(y.x * p.scale, y.y * p.scale);
    out.w = pack2<T>(y.z * p.scale, y.w * p.scale);
    *reinterpret_cast<uint4*>(slice_ptr<T>(p.dq, p.q_stride, b, h) + i * p.q_stride.seq + col) = out;
  }
}

}  // namespace attncamp::ops::cuda::attn
