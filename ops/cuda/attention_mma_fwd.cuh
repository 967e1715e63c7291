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

// Tile shape of the forward kernel: kTiles 16-query tiles per warp, kWarps warps, kN keys per tile.
template <int kD, int kTiles, int kN, int kWarps, int kMinBlocks = 1>
struct MmaFwdConfig : TileConfig<kD, kTiles, kN, kWarps, kMinBlocks> {
  using Base = TileConfig<kD, kTiles, kN, kWarps, kMinBlocks>;
  static constexpr int kM = Base::kBlockRows, kKeys = kN;  // queries per block, keys per tile
  // sQ [kM][kStride], sK and sV [2][kN][kStride] (16-bit), then key flags [2][kN].
  static constexpr size_t kSmemBytes = size_t{2} * (kM + 4 * kN) * Base::kStride + 2 * kN;
};

// The shapes the launcher uses, picked on an H100 with benchmarks/gpu/attention_tune.cu (two row
// tiles per warp: 0.57 ms against 0.64 ms for one at S = 1024, D = 64; benchmarks/RESULTS.md).
template <int kD>
struct MmaFwdShapeFor {
  using type = MmaFwdConfig<kD, 2, kD <= 64 ? 64 : 32, 4>;
};

template <int kD>
using MmaFwdShape = typename MmaFwdShapeFor<kD>::type;

template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, C::kBlocksPerSm) mma_forward_kernel(const AttentionArgs p) {
  constexpr int kD = C::kHeadDim, kM = C::kM, kN = C::kKeys, kS = C::kStride, kTiles = C::kRowTiles;
  constexpr int kThreads = C::kThreads;
  T* sq = reinterpret_cast<T*>(dynamic_smem());
  T* sk = sq + kM * kS;                                          // [2][kN][kS]
  T* sv = sk + 2 * kN * kS;                                      // [2][kN][kS]
  uint8_t* skey = reinterpret_cast<uint8_t*>(sv + 2 * kN * kS);  // [2][kN]: key n0 + c may be attended

  // Causal blocks with more keys to visit start first.
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
  const int n_tiles = ((p.causal ? min(seq_k, m0 + kM) : seq_k) + kN - 1) / kN;
  if (n_tiles > 0) load_keys(0);
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();
  // This warp's rows: tile mt covers block rows r0 + 16 mt .. r0 + 16 mt + 15.
  const int r0 = warp * 16 * kTiles;
  // A fragments of the warp's query rows, one per row tile and 16-wide slice of the head dim.
  // A negative scale is folded into Q (flipping the sign bits of 16-bit values is exact), so the
  // scores below are raw products with a positive multiplier sc: the row max can be taken before
  // scaling and exp2(s * sc - m) is one FFMA and one MUFU per score.
  const uint32_t sign = p.scale < 0 ? 0x80008000u : 0u;
  const float sc = fabsf(p.scale) * kLog2e;  // base-2 units: exp(x) = exp2(x * log2 e)
  uint32_t qa[kTiles][kD / 16][4];
#pragma unroll
  for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      ldmatrix_x4(qa[mt][kk], sq + (r0 + 16 * mt + lane % 16) * kS + kk * 16 + (lane / 16) * 8);
#pragma unroll
      for (int i = 0; i < 4; ++i) qa[mt][kk][i] ^= sign;
    }
  }

  // This thread's query rows: C fragment rows g and g + 8 of each row tile.
  int rows[kTiles][2];
#pragma unroll
  for (int mt = 0; mt < kTiles; ++mt) {
    rows[mt][0] = m0 + r0 + 16 * mt + g;
    rows[mt][1] = rows[mt][0] + 8;
  }
  float o[kTiles][kD / 8][4] = {};           // C fragments of O, n-block dn = columns 8 dn .. 8 dn + 7
  float m_run[kTiles][2], l_run[kTiles][2];  // running max (base-2 units), this lane's part of the sum
#pragma unroll
  for (int mt = 0; mt < kTiles; ++mt) {
    m_run[mt][0] = m_run[mt][1] = -INFINITY;
    l_run[mt][0] = l_run[mt][1] = 0.0f;
  }
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

    // S = Q K^T: B[k = d][n = key] = K[key][d], two 8-key n-blocks per ldmatrix.
    float s[kTiles][kN / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
#pragma unroll
      for (int nb = 0; nb < kN / 16; ++nb) {
        uint32_t kb[4];
        ldmatrix_x4(kb, skj + (nb * 16 + (lane / 16) * 8 + lane % 8) * kS + kk * 16 + ((lane / 8) % 2) * 8);
#pragma unroll
        for (int mt = 0; mt < kTiles; ++mt) {
          mma_16816<T>(s[mt][2 * nb], qa[mt][kk], kb[0], kb[1]);
          mma_16816<T>(s[mt][2 * nb + 1], qa[mt][kk], kb[2], kb[3]);
        }
      }
    }
    // Element e of n-block j is (row rows[mt][e / 2], key n0 + 8 j + 2 t + e % 2). Only tiles with
    // a key some row of the block may not attend are masked (uniform across the block).
    if (p.key_valid != nullptr || n0 + kN > seq_k || (p.causal && n0 + kN - 1 > m0)) {
#pragma unroll
      for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
        for (int j = 0; j < kN / 8; ++j) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int c = 8 * j + 2 * t + (e & 1);
            if (skeyj[c] == 0 || (p.causal && n0 + c > rows[mt][e >> 1])) s[mt][j][e] = -INFINITY;
          }
        }
      }
    }
    // Online softmax per row: the quad (lanes 4g .. 4g+3) holds the row's kN scores.
#pragma unroll
    for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float mx = -INFINITY;  // of the raw scores
#pragma unroll
        for (int j = 0; j < kN / 8; ++j) mx = fmaxf(mx, fmaxf(s[mt][j][2 * r], s[mt][j][2 * r + 1]));
        mx = fmaxf(mx, shfl_xor(mx, 1));
        mx = fmaxf(mx, shfl_xor(mx, 2));
        const float m_new = fmaxf(m_run[mt][r], mx * sc);
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // no finite score yet: everything is 0
        const float alpha = fast_exp2(m_run[mt][r] - m_use);
        m_run[mt][r] = m_new;
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < kN / 8; ++j) {
          s[mt][j][2 * r] = fast_exp2(fmaf(s[mt][j][2 * r], sc, -m_use));
          s[mt][j][2 * r + 1] = fast_exp2(fmaf(s[mt][j][2 * r + 1], sc, -m_use));
          sum += s[mt][j][2 * r] + s[mt][j][2 * r + 1];
        }
        l_run[mt][r] = l_run[mt][r] * alpha + sum;
#pragma unroll
        for (int dn = 0; dn < kD / 8; ++dn) {
          o[mt][dn][2 * r] *= alpha;
          o[mt][dn][2 * r + 1] *= alpha;
        }
      }
    }
    // O += P V: the C fragments of key n-blocks 2 kk and 2 kk + 1 are the A fragment of keys
    // 16 kk .. 16 kk + 15; B[k = key][n = d] = V[key][d] via ldmatrix.trans.
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
    cp_async_wait_all();  // tile it + 1 has landed (this thread's copies) ...
    __syncthreads();      // ... for every thread, and nobody reads buffer it % 2 any more
  }

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

}  // namespace attncamp::ops::cuda::attn
