// Tensor-core attention forward (FlashAttention-2 structure) for T = __nv_bfloat16 or __half and
// head dim kD in {32, 64, 128}. A block of 4 warps takes 64 queries (16 per warp) of one (b, h)
// and walks key tiles of kN: S = Q K^T by mma.sync into registers, online softmax on the C
// fragments (row max and sum over the 4 lanes of a quad), P rounded to T and reused in
// registers as the A operand of O += P V. K and V tiles are double-buffered: the cp.async copies
// of tile j + 1 fly while tile j is computed, one __syncthreads per tile. Fragment layouts:
// ops/cuda/attention_warp.cuh.
#pragma once

#include "ops/cuda/attention_common.cuh"

namespace attncamp::ops::cuda::attn {

constexpr int kMmaThreads = 128;

template <int kD>
struct MmaFwdShape {
  static_assert(kD == 32 || kD == 64 || kD == 128, "tensor-core attention supports head dim 32, 64, 128");
  static constexpr int kM = 64;                  // queries per block, 16 per warp
  static constexpr int kN = kD <= 64 ? 64 : 32;  // keys per tile
  static constexpr int kStride = kD + 8;         // smem row stride in elements
  // sQ [kM][kStride], sK and sV [2][kN][kStride] (16-bit), then key flags [2][kN].
  static constexpr size_t kSmemBytes = size_t{2} * (kM + 4 * kN) * kStride + 2 * kN;
};

template <typename T, int kD>
__global__ void __launch_bounds__(kMmaThreads) mma_forward_kernel(const AttentionArgs p) {
  using Shape = MmaFwdShape<kD>;
  constexpr int kM = Shape::kM, kN = Shape::kN, kS = Shape::kStride;
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
    load_tile_async<T, kN, kD, kMmaThreads>(sk + buf * kN * kS, k, p.k_stride.seq, tile_k * kN, seq_k);
    load_tile_async<T, kN, kD, kMmaThreads>(sv + buf * kN * kS, v, p.v_stride.seq, tile_k * kN, seq_k);
    load_key_flags<kN, kMmaThreads>(skey + buf * kN, p, b, tile_k * kN);
  };
  load_tile_async<T, kM, kD, kMmaThreads>(sq, slice_ptr<const T>(p.q, p.q_stride, b, h), p.q_stride.seq, m0, seq_q);
  const int n_tiles = ((p.causal ? min(seq_k, m0 + kM) : seq_k) + kN - 1) / kN;
  if (n_tiles > 0) load_keys(0);
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();
  // A fragments of this warp's 16 query rows, one per 16-wide slice of the head dim.
  uint32_t qa[kD / 16][4];
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk)
    ldmatrix_x4(qa[kk], sq + (warp * 16 + lane % 16) * kS + kk * 16 + (lane / 16) * 8);

  // This thread's two query rows (C fragment rows g and g + 8 of the warp's 16).
  const int rows[2] = {m0 + warp * 16 + g, m0 + warp * 16 + g + 8};
  const float scale2 = p.scale * kLog2e;    // scores in base-2 units: exp(x) = exp2(x * log2 e)
  float o[kD / 8][4] = {};                  // C fragments of O, n-block dn = columns 8 dn .. 8 dn + 7
  float m_run[2] = {-INFINITY, -INFINITY};  // running max of each row (base-2 units)
  float l_run[2] = {0.0f, 0.0f};            // this lane's part of each row's running sum
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
    float s[kN / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
#pragma unroll
      for (int nb = 0; nb < kN / 16; ++nb) {
        uint32_t kb[4];
        ldmatrix_x4(kb, skj + (nb * 16 + (lane / 16) * 8 + lane % 8) * kS + kk * 16 + ((lane / 8) % 2) * 8);
        mma_16816<T>(s[2 * nb], qa[kk], kb[0], kb[1]);
        mma_16816<T>(s[2 * nb + 1], qa[kk], kb[2], kb[3]);
      }
    }
    // Element e of n-block j is (row rows[e / 2], key n0 + 8 j + 2 t + e % 2). A tile whose keys
    // are all attendable by every row of the block skips the mask (uniform across the block).
    const bool masked = p.key_valid != nullptr || n0 + kN > seq_k || (p.causal && n0 + kN - 1 > m0);
#pragma unroll
    for (int j = 0; j < kN / 8; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = 8 * j + 2 * t + (e & 1);
        const bool ok = !masked || (skeyj[c] != 0 && (!p.causal || n0 + c <= rows[e >> 1]));
        s[j][e] = ok ? s[j][e] * scale2 : -INFINITY;
      }
    }
    // Online softmax per row: the quad (lanes 4g .. 4g+3) holds the row's kN scores.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = m_run[r];
#pragma unroll
      for (int j = 0; j < kN / 8; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * r], s[j][2 * r + 1]));
      mx = fmaxf(mx, shfl_xor(mx, 1));
      mx = fmaxf(mx, shfl_xor(mx, 2));
      const float m_use = mx == -INFINITY ? 0.0f : mx;  // no finite score yet: everything is 0
      const float alpha = exp2f(m_run[r] - m_use);
      m_run[r] = mx;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < kN / 8; ++j) {
        s[j][2 * r] = exp2f(s[j][2 * r] - m_use);
        s[j][2 * r + 1] = exp2f(s[j][2 * r + 1] - m_use);
        sum += s[j][2 * r] + s[j][2 * r + 1];
      }
      l_run[r] = l_run[r] * alpha + sum;
#pragma unroll
      for (int dn = 0; dn < kD / 8; ++dn) {
        o[dn][2 * r] *= alpha;
        o[dn][2 * r + 1] *= alpha;
      }
    }
    // O += P V: the C fragments of key n-blocks 2 kk and 2 kk + 1 are the A fragment of keys
    // 16 kk .. 16 kk + 15; B[k = key][n = d] = V[key][d] via ldmatrix.trans.
#pragma unroll
    for (int kk = 0; kk < kN / 16; ++kk) {
      const uint32_t pa[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                              pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < kD / 16; ++dp) {
        uint32_t vb[4];
        ldmatrix_x4_trans(vb, svj + (kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) * kS + dp * 16 + (lane / 16) * 8);
        mma_16816<T>(o[2 * dp], pa, vb[0], vb[1]);
        mma_16816<T>(o[2 * dp + 1], pa, vb[2], vb[3]);
      }
    }
    cp_async_wait_all();  // tile it + 1 has landed (this thread's copies) ...
    __syncthreads();      // ... for every thread, and nobody reads buffer it % 2 any more
  }

  T* out = slice_ptr<T>(p.out, p.out_stride, b, h);
  float* lse = p.lse + (b * p.heads + h) * p.seq_q;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = l_run[r];
    l += shfl_xor(l, 1);
    l += shfl_xor(l, 2);
    const int i = rows[r];
    if (i >= seq_q) continue;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    T* orow = out + static_cast<int64_t>(i) * p.out_stride.seq;
#pragma unroll
    for (int dn = 0; dn < kD / 8; ++dn) {
      *reinterpret_cast<uint32_t*>(orow + 8 * dn + 2 * t) = pack2<T>(o[dn][2 * r] * inv, o[dn][2 * r + 1] * inv);
    }
    if (t == 0) lse[i] = l > 0.0f ? (m_run[r] + log2f(l)) * kLn2 : -INFINITY;
  }
}

}  // namespace attncamp::ops::cuda::attn
