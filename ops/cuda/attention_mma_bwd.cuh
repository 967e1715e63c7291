// Tensor-core attention backward (FlashAttention-2 structure, deterministic: no atomics) for
// T = __nv_bfloat16 or __half and head dim kD in {32, 64, 128}. Probabilities are recomputed
// from the saved lse, P = exp2(S * scale * log2 e - lse * log2 e), with delta = rowsum(dO * O)
// precomputed (attention_delta_kernel). Two kernels, each owning what it writes:
//   mma_dkdv_kernel: a block owns 64 keys (16 per warp) and walks query tiles, computing the
//     transposed products S^T = K Q^T and dP^T = V dO^T, so P^T and dS^T = P^T (dP^T - delta)
//     are C fragments with the warp's keys as rows: reused as A operands of dV += P^T dO and
//     dK += dS^T Q.
//   mma_dq_kernel: a block owns 64 queries (16 per warp) and walks key tiles: S = Q K^T,
//     dP = dO V^T, dS = P (dP - delta), dQ += dS K.
// The walked tiles are double-buffered: the cp.async copies of tile j + 1 fly while tile j is
// computed, one __syncthreads per tile. Fragment layouts: ops/cuda/attention_warp.cuh.
#pragma once

#include "ops/cuda/attention_common.cuh"

namespace attncamp::ops::cuda::attn {

template <int kD>
struct MmaBwdShape {
  static_assert(kD == 32 || kD == 64 || kD == 128, "tensor-core attention supports head dim 32, 64, 128");
  static constexpr int kThreads = 128;
  static constexpr int kStride = kD + 8;  // smem row stride in elements
  // dK/dV: keys per block (16 per warp) and queries per tile.
  static constexpr int kKeys = 64;
  static constexpr int kQueries = kD <= 64 ? 64 : 32;
  // sK, sV [kKeys][kStride], sQ, sdO [2][kQueries][kStride] (16-bit), lse and delta [2][kQueries]
  // (f32), key flags [kKeys].
  static constexpr size_t kDkdvSmemBytes =
      size_t{2} * 2 * (kKeys + 2 * kQueries) * kStride + sizeof(float) * 4 * kQueries + kKeys;
  // dQ: queries per block (16 per warp) and keys per tile.
  static constexpr int kRows = 64;
  static constexpr int kTileKeys = kD <= 64 ? 64 : 32;
  // sQ, sdO [kRows][kStride], sK, sV [2][kTileKeys][kStride] (16-bit), key flags [2][kTileKeys].
  static constexpr size_t kDqSmemBytes = size_t{2} * 2 * (kRows + 2 * kTileKeys) * kStride + 2 * kTileKeys;
};

// Grid (key tiles of 64, H, B).
template <typename T, int kD>
__global__ void __launch_bounds__(MmaBwdShape<kD>::kThreads) mma_dkdv_kernel(const AttentionArgs p) {
  using Shape = MmaBwdShape<kD>;
  constexpr int kN = Shape::kKeys, kM = Shape::kQueries, kS = Shape::kStride, kThreads = Shape::kThreads;
  T* sk = reinterpret_cast<T*>(dynamic_smem());
  T* sv = sk + kN * kS;
  T* sq = sv + kN * kS;                                         // [2][kM][kS]
  T* sdo = sq + 2 * kM * kS;                                    // [2][kM][kS]
  float* slse = reinterpret_cast<float*>(sdo + 2 * kM * kS);    // [2][kM]: lse of query m0 + c (0 past seq_q)
  float* sdelta = slse + 2 * kM;                                // [2][kM]: delta of query m0 + c (0 past seq_q)
  uint8_t* skey = reinterpret_cast<uint8_t*>(sdelta + 2 * kM);  // [kN]: key n0 + c may be attended

  const int n0 = blockIdx.x * kN;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int seq_q = static_cast<int>(p.seq_q), seq_k = static_cast<int>(p.seq_k);
  const T* q = slice_ptr<const T>(p.q, p.q_stride, b, h);
  const T* dout = slice_ptr<const T>(p.dout, p.out_stride, b, h);
  const float* lse_bh = p.lse + (b * p.heads + h) * p.seq_q;
  const float* delta_bh = p.delta + (b * p.heads + h) * p.seq_q;
  const int m_begin = p.causal ? n0 / kM * kM : 0;  // causal: only queries i >= n0
  const int m_tiles = m_begin < seq_q ? (seq_q - m_begin + kM - 1) / kM : 0;
  // Query tile `tile_q` (queries m_begin + tile_q * kM ..) into buffer tile_q % 2.
  auto load_queries = [&](int tile_q) {
    const int buf = tile_q & 1, m0 = m_begin + tile_q * kM;
    load_tile_async<T, kM, kD, kThreads>(sq + buf * kM * kS, q, p.q_stride.seq, m0, seq_q);
    load_tile_async<T, kM, kD, kThreads>(sdo + buf * kM * kS, dout, p.out_stride.seq, m0, seq_q);
    load_floats_async<kM, kThreads>(slse + buf * kM, lse_bh, m0, seq_q);
    load_floats_async<kM, kThreads>(sdelta + buf * kM, delta_bh, m0, seq_q);
  };
  load_tile_async<T, kN, kD, kThreads>(sk, slice_ptr<const T>(p.k, p.k_stride, b, h), p.k_stride.seq, n0, seq_k);
  load_tile_async<T, kN, kD, kThreads>(sv, slice_ptr<const T>(p.v, p.v_stride, b, h), p.v_stride.seq, n0, seq_k);
  load_key_flags<kN, kThreads>(skey, p, b, n0);
  if (m_tiles > 0) load_queries(0);
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();

  const float scale2 = p.scale * kLog2e;
  float dk[kD / 8][4] = {};  // C fragments: rows = the warp's keys, n-block dn = dims 8 dn ..
  float dv[kD / 8][4] = {};
  const int key_local[2] = {warp * 16 + g, warp * 16 + g + 8};  // this thread's C-fragment rows
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

    // S^T = K Q^T and dP^T = V dO^T: A = the warp's 16 key rows of K (V); B[k = d][n = query]
    // = Q[query][d] (dO[query][d]), two 8-query n-blocks per ldmatrix.
    float st[kM / 8][4] = {};
    float dpt[kM / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      uint32_t ka[4], va[4];
      ldmatrix_x4(ka, sk + (warp * 16 + lane % 16) * kS + kk * 16 + (lane / 16) * 8);
      ldmatrix_x4(va, sv + (warp * 16 + lane % 16) * kS + kk * 16 + (lane / 16) * 8);
#pragma unroll
      for (int nb = 0; nb < kM / 16; ++nb) {
        const int row = (nb * 16 + (lane / 16) * 8 + lane % 8) * kS + kk * 16 + ((lane / 8) % 2) * 8;
        uint32_t qb[4], ob[4];
        ldmatrix_x4(qb, sqj + row);
        ldmatrix_x4(ob, sdoj + row);
        mma_16816<T>(st[2 * nb], ka, qb[0], qb[1]);
        mma_16816<T>(st[2 * nb + 1], ka, qb[2], qb[3]);
        mma_16816<T>(dpt[2 * nb], va, ob[0], ob[1]);
        mma_16816<T>(dpt[2 * nb + 1], va, ob[2], ob[3]);
      }
    }
    // Element e of n-block j is (key n0 + key_local[e / 2], query m0 + 8 j + 2 t + e % 2).
    // Queries past seq_q and queries without attendable keys get lse2 = +inf, so P^T = 0 there;
    // a tile whose queries attend all the block's keys skips the mask (uniform across the block).
    const bool masked = p.key_valid != nullptr || n0 + kN > seq_k || (p.causal && n0 + kN - 1 > m0);
#pragma unroll
    for (int j = 0; j < kM / 8; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = 8 * j + 2 * t + (e & 1);
        const int kl = key_local[e >> 1];
        const bool ok = !masked || (skey[kl] != 0 && (!p.causal || n0 + kl <= m0 + c));
        const float pt = ok ? exp2f(st[j][e] * scale2 - lse2_of(slsej[c], m0 + c < seq_q)) : 0.0f;
        st[j][e] = pt;
        dpt[j][e] = pt * (dpt[j][e] - sdeltaj[c]);
      }
    }
    // dV += P^T dO and dK += dS^T Q: the C fragments of query n-blocks 2 kk and 2 kk + 1 are
    // the A fragment of queries 16 kk .. 16 kk + 15; B[k = query][n = d] via ldmatrix.trans.
#pragma unroll
    for (int kk = 0; kk < kM / 16; ++kk) {
      const uint32_t pa[4] = {pack2<T>(st[2 * kk][0], st[2 * kk][1]), pack2<T>(st[2 * kk][2], st[2 * kk][3]),
                              pack2<T>(st[2 * kk + 1][0], st[2 * kk + 1][1]),
                              pack2<T>(st[2 * kk + 1][2], st[2 * kk + 1][3])};
      const uint32_t dsa[4] = {pack2<T>(dpt[2 * kk][0], dpt[2 * kk][1]), pack2<T>(dpt[2 * kk][2], dpt[2 * kk][3]),
                               pack2<T>(dpt[2 * kk + 1][0], dpt[2 * kk + 1][1]),
                               pack2<T>(dpt[2 * kk + 1][2], dpt[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < kD / 16; ++dp) {
        const int row = (kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) * kS + dp * 16 + (lane / 16) * 8;
        uint32_t ob[4], qb[4];
        ldmatrix_x4_trans(ob, sdoj + row);
        ldmatrix_x4_trans(qb, sqj + row);
        mma_16816<T>(dv[2 * dp], pa, ob[0], ob[1]);
        mma_16816<T>(dv[2 * dp + 1], pa, ob[2], ob[3]);
        mma_16816<T>(dk[2 * dp], dsa, qb[0], qb[1]);
        mma_16816<T>(dk[2 * dp + 1], dsa, qb[2], qb[3]);
      }
    }
    cp_async_wait_all();  // tile it + 1 has landed (this thread's copies) ...
    __syncthreads();      // ... for every thread, and nobody reads buffer it % 2 any more
  }

  // Every key of the tile is written (masked keys and keys no query reaches get 0).
  T* gk = slice_ptr<T>(p.dk, p.k_stride, b, h);
  T* gv = slice_ptr<T>(p.dv, p.v_stride, b, h);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int j = n0 + key_local[r];
    if (j >= seq_k) continue;
    T* krow = gk + static_cast<int64_t>(j) * p.k_stride.seq;
    T* vrow = gv + static_cast<int64_t>(j) * p.v_stride.seq;
#pragma unroll
    for (int dn = 0; dn < kD / 8; ++dn) {
      *reinterpret_cast<uint32_t*>(krow + 8 * dn + 2 * t) =
          pack2<T>(dk[dn][2 * r] * p.scale, dk[dn][2 * r + 1] * p.scale);
      *reinterpret_cast<uint32_t*>(vrow + 8 * dn + 2 * t) = pack2<T>(dv[dn][2 * r], dv[dn][2 * r + 1]);
    }
  }
}

// Grid (query tiles of 64, H, B).
template <typename T, int kD>
__global__ void __launch_bounds__(MmaBwdShape<kD>::kThreads) mma_dq_kernel(const AttentionArgs p) {
  using Shape = MmaBwdShape<kD>;
  constexpr int kM = Shape::kRows, kN = Shape::kTileKeys, kS = Shape::kStride, kThreads = Shape::kThreads;
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
  const int rows[2] = {m0 + warp * 16 + g, m0 + warp * 16 + g + 8};  // this thread's C-fragment rows
  float lse2[2], delta[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    lse2[r] = lse_log2(lse_bh, rows[r], seq_q);  // +inf past seq_q or without keys: P = 0
    delta[r] = rows[r] < seq_q ? delta_bh[rows[r]] : 0.0f;
  }
  cp_async_wait_all();
  __syncthreads();

  const float scale2 = p.scale * kLog2e;
  float dq[kD / 8][4] = {};
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

    // S = Q K^T and dP = dO V^T: A = the warp's 16 rows of Q (dO); B[k = d][n = key] =
    // K[key][d] (V[key][d]).
    float s[kN / 8][4] = {};
    float dp[kN / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      uint32_t qa[4], oa[4];
      ldmatrix_x4(qa, sq + (warp * 16 + lane % 16) * kS + kk * 16 + (lane / 16) * 8);
      ldmatrix_x4(oa, sdo + (warp * 16 + lane % 16) * kS + kk * 16 + (lane / 16) * 8);
#pragma unroll
      for (int nb = 0; nb < kN / 16; ++nb) {
        const int row = (nb * 16 + (lane / 16) * 8 + lane % 8) * kS + kk * 16 + ((lane / 8) % 2) * 8;
        uint32_t kb[4], vb[4];
        ldmatrix_x4(kb, skj + row);
        ldmatrix_x4(vb, svj + row);
        mma_16816<T>(s[2 * nb], qa, kb[0], kb[1]);
        mma_16816<T>(s[2 * nb + 1], qa, kb[2], kb[3]);
        mma_16816<T>(dp[2 * nb], oa, vb[0], vb[1]);
        mma_16816<T>(dp[2 * nb + 1], oa, vb[2], vb[3]);
      }
    }
    // Element e of n-block j is (query rows[e / 2], key n0 + 8 j + 2 t + e % 2); s becomes dS.
    // A tile whose keys are all attendable by every row of the block skips the mask.
    const bool masked = p.key_valid != nullptr || n0 + kN > seq_k || (p.causal && n0 + kN - 1 > m0);
#pragma unroll
    for (int j = 0; j < kN / 8; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = 8 * j + 2 * t + (e & 1);
        const int r = e >> 1;
        const bool ok = !masked || (skeyj[c] != 0 && (!p.causal || n0 + c <= rows[r]));
        const float prob = ok ? exp2f(s[j][e] * scale2 - lse2[r]) : 0.0f;
        s[j][e] = prob * (dp[j][e] - delta[r]);
      }
    }
    // dQ += dS K: A from the C fragments of key n-blocks 2 kk, 2 kk + 1; B[k = key][n = d] =
    // K[key][d] via ldmatrix.trans.
#pragma unroll
    for (int kk = 0; kk < kN / 16; ++kk) {
      const uint32_t dsa[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                               pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                               pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dn = 0; dn < kD / 16; ++dn) {
        uint32_t kb[4];
        ldmatrix_x4_trans(kb, skj + (kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) * kS + dn * 16 + (lane / 16) * 8);
        mma_16816<T>(dq[2 * dn], dsa, kb[0], kb[1]);
        mma_16816<T>(dq[2 * dn + 1], dsa, kb[2], kb[3]);
      }
    }
    cp_async_wait_all();  // tile it + 1 has landed (this thread's copies) ...
    __syncthreads();      // ... for every thread, and nobody reads buffer it % 2 any more
  }

  T* gq = slice_ptr<T>(p.dq, p.q_stride, b, h);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (rows[r] >= seq_q) continue;
    T* qrow = gq + static_cast<int64_t>(rows[r]) * p.q_stride.seq;
#pragma unroll
    for (int dn = 0; dn < kD / 8; ++dn) {
      *reinterpret_cast<uint32_t*>(qrow + 8 * dn + 2 * t) =
          pack2<T>(dq[dn][2 * r] * p.scale, dq[dn][2 * r + 1] * p.scale);
    }
  }
}

}  // namespace attncamp::ops::cuda::attn
