// Simple attention kernels (any activation dtype, head dim <= kSimpleMaxDim): f32 tiles in
// shared memory and FMA in f32, with the same online softmax and saved-lse recomputation as the
// tensor-core path. A block is 4 warps; the lanes of a warp take 32 keys (or 32 queries) of a
// tile, so scores live one per lane and row reductions are warp shuffles; a lane then takes
// head-dim elements d = lane + 32 c (c < kSimpleChunks) of the rows its warp accumulates.
#pragma once

#include "ops/cuda/attention_common.cuh"

namespace attncamp::ops::cuda::attn {

constexpr int kSimpleThreads = 128;
constexpr int kSimpleRowsPerWarp = 4;
constexpr int kSimpleRows = 4 * kSimpleRowsPerWarp;  // query rows (or keys, dK/dV) per block
constexpr int kSimpleTile = 32;                      // keys (or queries, dK/dV) per inner tile
constexpr int kSimpleChunks = 8;
constexpr int kSimpleMaxDim = 32 * kSimpleChunks;

// Shared memory of each simple kernel for head dim d (f32 tiles; rows read across lanes are
// padded to d + 1 floats, so lane-per-row reads hit distinct banks).
inline size_t simple_forward_smem(int d) { return sizeof(float) * (kSimpleRows * d + kSimpleTile * (2 * d + 1)); }
inline size_t simple_dkdv_smem(int d) {
  return sizeof(float) * (2 * kSimpleRows * d + 2 * kSimpleTile * (d + 1) + 2 * kSimpleTile);
}
inline size_t simple_dq_smem(int d) { return sizeof(float) * (2 * kSimpleRows * d + 2 * kSimpleTile * (d + 1)); }

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v = fmaxf(v, shfl_xor(v, off));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v += shfl_xor(v, off);
  return v;
}

// Forward. Grid (query tiles of kSimpleRows, H, B). Warp w owns query rows w*4 .. w*4+3 of the
// tile; per key tile, lane c scores key n0 + c against them, and lane c accumulates output
// elements d = c + 32 j.
template <typename T>
__global__ void __launch_bounds__(kSimpleThreads) simple_forward_kernel(const AttentionArgs p) {
  const int dn = static_cast<int>(p.head_dim);
  const int tile = p.causal ? static_cast<int>(gridDim.x - 1 - blockIdx.x) : static_cast<int>(blockIdx.x);
  const int m0 = tile * kSimpleRows;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* sq = reinterpret_cast<float*>(dynamic_smem());  // [kSimpleRows][dn]
  float* sk = sq + kSimpleRows * dn;                     // [kSimpleTile][dn + 1]
  float* sv = sk + kSimpleTile * (dn + 1);               // [kSimpleTile][dn]
  const T* q = slice_ptr<const T>(p.q, p.q_stride, b, h);
  const T* k = slice_ptr<const T>(p.k, p.k_stride, b, h);
  const T* v = slice_ptr<const T>(p.v, p.v_stride, b, h);
  const int seq_q = static_cast<int>(p.seq_q), seq_k = static_cast<int>(p.seq_k);
  load_tile_f32<T, kSimpleThreads>(sq, dn, q, p.q_stride.seq, m0, seq_q, kSimpleRows, dn);

  const int row0 = m0 + warp * kSimpleRowsPerWarp;
  float acc[kSimpleRowsPerWarp][kSimpleChunks] = {};
  float m_run[kSimpleRowsPerWarp], l_run[kSimpleRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
    m_run[r] = -INFINITY;
    l_run[r] = 0.0f;
  }
  const int n_end = p.causal ? min(seq_k, m0 + kSimpleRows) : seq_k;
  for (int n0 = 0; n0 < n_end; n0 += kSimpleTile) {
    __syncthreads();
    load_tile_f32<T, kSimpleThreads>(sk, dn + 1, k, p.k_stride.seq, n0, seq_k, kSimpleTile, dn);
    load_tile_f32<T, kSimpleThreads>(sv, dn, v, p.v_stride.seq, n0, seq_k, kSimpleTile, dn);
    __syncthreads();
    const int j = n0 + lane;
    const bool key_ok = key_allowed(p, b, j);
    float s[kSimpleRowsPerWarp] = {};
    for (int d = 0; d < dn; ++d) {
      const float kd = sk[lane * (dn + 1) + d];
#pragma unroll
      for (int r = 0; r < kSimpleRowsPerWarp; ++r) s[r] += sq[(warp * kSimpleRowsPerWarp + r) * dn + d] * kd;
    }
    float pr[kSimpleRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
      const int i = row0 + r;
      const bool ok = key_ok && i < seq_q && (!p.causal || j <= i);
      const float x = ok ? s[r] * p.scale : -INFINITY;
      const float m_new = fmaxf(m_run[r], warp_max(x));
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // no finite score yet: everything is 0
      const float alpha = expf(m_run[r] - m_use);
      pr[r] = expf(x - m_use);
      l_run[r] = l_run[r] * alpha + warp_sum(pr[r]);
      m_run[r] = m_new;
#pragma unroll
      for (int c = 0; c < kSimpleChunks; ++c) acc[r][c] *= alpha;
    }
    for (int kk = 0; kk < kSimpleTile; ++kk) {
      float pk[kSimpleRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kSimpleRowsPerWarp; ++r) pk[r] = shfl_idx(pr[r], kk);
#pragma unroll
      for (int c = 0; c < kSimpleChunks; ++c) {
        const int d = c * 32 + lane;
        if (d < dn) {
          const float vd = sv[kk * dn + d];
#pragma unroll
          for (int r = 0; r < kSimpleRowsPerWarp; ++r) acc[r][c] += pk[r] * vd;
        }
      }
    }
  }
  T* out = slice_ptr<T>(p.out, p.out_stride, b, h);
  float* lse = p.lse + (b * p.heads + h) * p.seq_q;
#pragma unroll
  for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
    const int i = row0 + r;
    if (i >= seq_q) continue;
    const float l = l_run[r];
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    T* orow = out + static_cast<int64_t>(i) * p.out_stride.seq;
#pragma unroll
    for (int c = 0; c < kSimpleChunks; ++c) {
      const int d = c * 32 + lane;
      if (d < dn) orow[d] = from_f32<T>(acc[r][c] * inv);
    }
    if (lane == 0) lse[i] = l > 0.0f ? m_run[r] + logf(l) : -INFINITY;
  }
}

// delta[b,h,i] = sum_d dout[b,i,h,d] * out[b,i,h,d] in f32: one warp per row, grid-stride.
template <typename T>
__global__ void attention_delta_kernel(const AttentionArgs p) {
  const int lane = threadIdx.x % 32;
  const int64_t rows = p.batch * p.seq_q * p.heads;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; row < rows; row += warps) {
    const int64_t h = row % p.heads, i = (row / p.heads) % p.seq_q, b = row / (p.heads * p.seq_q);
    const T* o = slice_ptr<const T>(p.out, p.out_stride, b, h) + i * p.out_stride.seq;
    const T* g = slice_ptr<const T>(p.dout, p.out_stride, b, h) + i * p.out_stride.seq;
    float s = 0.0f;
    for (int64_t d = lane; d < p.head_dim; d += 32) s += to_f32(o[d]) * to_f32(g[d]);
    s = warp_sum(s);
    if (lane == 0) p.delta[(b * p.heads + h) * p.seq_q + i] = s;
  }
}

// The same for the tensor-core path, whose rows are 16-byte aligned with head_dim in {32, 64,
// 128}: each thread loads 8 elements of out and dout with one 16-byte load each, head_dim / 8
// adjacent lanes share a row (rows in (b, i, h) order, so consecutive rows are adjacent in a dense
// [B,S,H,D] tensor). One thread per 8 elements, no grid stride.
template <typename T>
__global__ void attention_delta_vec_kernel(const AttentionArgs p) {
  const int lanes = static_cast<int>(p.head_dim / 8);  // 4, 8 or 16: divides the warp
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t row = tid / lanes;
  const int64_t h = row % p.heads, i = (row / p.heads) % p.seq_q, b = row / (p.heads * p.seq_q);
  const bool in_range = b < p.batch;
  float s = 0.0f;
  if (in_range) {
    const int64_t offset = i * p.out_stride.seq + 8 * (tid % lanes);
    const uint4 ov = *reinterpret_cast<const uint4*>(slice_ptr<const T>(p.out, p.out_stride, b, h) + offset);
    const uint4 gv = *reinterpret_cast<const uint4*>(slice_ptr<const T>(p.dout, p.out_stride, b, h) + offset);
    T oe[8], ge[8];  // the 8 elements of each load (memcpy: no aliasing of the uint4 through T)
    memcpy(static_cast<void*>(oe), &ov, sizeof(oe));
    memcpy(static_cast<void*>(ge), &gv, sizeof(ge));
#pragma unroll
    for (int e = 0; e < 8; ++e) s += to_f32(oe[e]) * to_f32(ge[e]);
  }
  for (int o = lanes / 2; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);  // every lane takes part
  if (in_range && tid % lanes == 0) p.delta[(b * p.heads + h) * p.seq_q + i] = s;
}

// dp = dout.v, the row's lse (+inf: row has no probability mass) and delta.
__device__ __forceinline__ void simple_grad_entry(float s, float dp, float lse, float delta, bool ok, float scale,
                                                  float& prob, float& dscore) {
  prob = ok ? expf(s * scale - lse) : 0.0f;
  dscore = prob * (dp - delta);
}

// Lse of row i for the simple backward: natural log, +inf when the row is empty or past seq_q.
__device__ __forceinline__ float simple_lse(const float* lse_row0, int i, int seq_q) {
  if (i >= seq_q) return INFINITY;
  const float l = lse_row0[i];
  return l == -INFINITY ? INFINITY : l;
}

// dK and dV. Grid (key tiles of kSimpleRows, H, B). Warp w owns keys w*4 .. w*4+3 of the tile;
// per query tile, lane c recomputes query m0 + c against them, then lane c accumulates
// gradient elements d = c + 32 j over the tile's queries.
template <typename T>
__global__ void __launch_bounds__(kSimpleThreads) simple_dkdv_kernel(const AttentionArgs p) {
  const int dn = static_cast<int>(p.head_dim), ld = dn + 1;
  const int n0 = blockIdx.x * kSimpleRows;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* sk = reinterpret_cast<float*>(dynamic_smem());  // [kSimpleRows][dn]
  float* sv = sk + kSimpleRows * dn;                     // [kSimpleRows][dn]
  float* sq = sv + kSimpleRows * dn;                     // [kSimpleTile][ld]
  float* sdo = sq + kSimpleTile * ld;                    // [kSimpleTile][ld]
  float* slse = sdo + kSimpleTile * ld;                  // [kSimpleTile]
  float* sdelta = slse + kSimpleTile;                    // [kSimpleTile]
  const int seq_q = static_cast<int>(p.seq_q), seq_k = static_cast<int>(p.seq_k);
  const T* q = slice_ptr<const T>(p.q, p.q_stride, b, h);
  const T* dout = slice_ptr<const T>(p.dout, p.out_stride, b, h);
  const float* lse_bh = p.lse + (b * p.heads + h) * p.seq_q;
  const float* delta_bh = p.delta + (b * p.heads + h) * p.seq_q;
  load_tile_f32<T, kSimpleThreads>(sk, dn, slice_ptr<const T>(p.k, p.k_stride, b, h), p.k_stride.seq, n0, seq_k,
                                   kSimpleRows, dn);
  load_tile_f32<T, kSimpleThreads>(sv, dn, slice_ptr<const T>(p.v, p.v_stride, b, h), p.v_stride.seq, n0, seq_k,
                                   kSimpleRows, dn);
  const int key0 = n0 + warp * kSimpleRowsPerWarp;
  bool key_ok[kSimpleRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kSimpleRowsPerWarp; ++r) key_ok[r] = key_allowed(p, b, key0 + r);
  float dk[kSimpleRowsPerWarp][kSimpleChunks] = {};
  float dv[kSimpleRowsPerWarp][kSimpleChunks] = {};
  const int m_begin = p.causal ? n0 / kSimpleTile * kSimpleTile : 0;  // causal: queries i >= n0 only
  for (int m0 = m_begin; m0 < seq_q; m0 += kSimpleTile) {
    __syncthreads();
    load_tile_f32<T, kSimpleThreads>(sq, ld, q, p.q_stride.seq, m0, seq_q, kSimpleTile, dn);
    load_tile_f32<T, kSimpleThreads>(sdo, ld, dout, p.out_stride.seq, m0, seq_q, kSimpleTile, dn);
    if (threadIdx.x < kSimpleTile) {
      const int i = m0 + threadIdx.x;
      slse[threadIdx.x] = simple_lse(lse_bh, i, seq_q);
      sdelta[threadIdx.x] = i < seq_q ? delta_bh[i] : 0.0f;
    }
    __syncthreads();
    const int i = m0 + lane;
    float s[kSimpleRowsPerWarp] = {}, dp[kSimpleRowsPerWarp] = {};
    for (int d = 0; d < dn; ++d) {
      const float qd = sq[lane * ld + d], gd = sdo[lane * ld + d];
#pragma unroll
      for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
        s[r] += qd * sk[(warp * kSimpleRowsPerWarp + r) * dn + d];
        dp[r] += gd * sv[(warp * kSimpleRowsPerWarp + r) * dn + d];
      }
    }
    float pr[kSimpleRowsPerWarp], ds[kSimpleRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
      const bool ok = key_ok[r] && (!p.causal || key0 + r <= i);
      simple_grad_entry(s[r], dp[r], slse[lane], sdelta[lane], ok, p.scale, pr[r], ds[r]);
    }
    for (int qq = 0; qq < kSimpleTile; ++qq) {
      float pq[kSimpleRowsPerWarp], dsq[kSimpleRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
        pq[r] = shfl_idx(pr[r], qq);
        dsq[r] = shfl_idx(ds[r], qq);
      }
#pragma unroll
      for (int c = 0; c < kSimpleChunks; ++c) {
        const int d = c * 32 + lane;
        if (d < dn) {
          const float gd = sdo[qq * ld + d], qd = sq[qq * ld + d];
#pragma unroll
          for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
            dv[r][c] += pq[r] * gd;
            dk[r][c] += dsq[r] * qd;
          }
        }
      }
    }
  }
  T* gk = slice_ptr<T>(p.dk, p.k_stride, b, h);
  T* gv = slice_ptr<T>(p.dv, p.v_stride, b, h);
#pragma unroll
  for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
    const int j = key0 + r;
    if (j >= seq_k) continue;
#pragma unroll
    for (int c = 0; c < kSimpleChunks; ++c) {
      const int d = c * 32 + lane;
      if (d < dn) {
        gk[static_cast<int64_t>(j) * p.k_stride.seq + d] = from_f32<T>(dk[r][c] * p.scale);
        gv[static_cast<int64_t>(j) * p.v_stride.seq + d] = from_f32<T>(dv[r][c]);
      }
    }
  }
}

// dQ. Grid (query tiles of kSimpleRows, H, B). Warp w owns query rows w*4 .. w*4+3; per key
// tile, lane c recomputes key n0 + c against them, then accumulates dq elements d = c + 32 j.
template <typename T>
__global__ void __launch_bounds__(kSimpleThreads) simple_dq_kernel(const AttentionArgs p) {
  const int dn = static_cast<int>(p.head_dim), ld = dn + 1;
  const int tile = p.causal ? static_cast<int>(gridDim.x - 1 - blockIdx.x) : static_cast<int>(blockIdx.x);
  const int m0 = tile * kSimpleRows;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* sq = reinterpret_cast<float*>(dynamic_smem());  // [kSimpleRows][dn]
  float* sdo = sq + kSimpleRows * dn;                    // [kSimpleRows][dn]
  float* sk = sdo + kSimpleRows * dn;                    // [kSimpleTile][ld]
  float* sv = sk + kSimpleTile * ld;                     // [kSimpleTile][ld]
  const int seq_q = static_cast<int>(p.seq_q), seq_k = static_cast<int>(p.seq_k);
  const T* k = slice_ptr<const T>(p.k, p.k_stride, b, h);
  const T* v = slice_ptr<const T>(p.v, p.v_stride, b, h);
  load_tile_f32<T, kSimpleThreads>(sq, dn, slice_ptr<const T>(p.q, p.q_stride, b, h), p.q_stride.seq, m0, seq_q,
                                   kSimpleRows, dn);
  load_tile_f32<T, kSimpleThreads>(sdo, dn, slice_ptr<const T>(p.dout, p.out_stride, b, h), p.out_stride.seq, m0, seq_q,
                                   kSimpleRows, dn);
  const int row0 = m0 + warp * kSimpleRowsPerWarp;
  const float* lse_bh = p.lse + (b * p.heads + h) * p.seq_q;
  const float* delta_bh = p.delta + (b * p.heads + h) * p.seq_q;
  float lse_r[kSimpleRowsPerWarp], delta_r[kSimpleRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
    lse_r[r] = simple_lse(lse_bh, row0 + r, seq_q);
    delta_r[r] = row0 + r < seq_q ? delta_bh[row0 + r] : 0.0f;
  }
  float acc[kSimpleRowsPerWarp][kSimpleChunks] = {};
  const int n_end = p.causal ? min(seq_k, m0 + kSimpleRows) : seq_k;
  for (int n0 = 0; n0 < n_end; n0 += kSimpleTile) {
    __syncthreads();
    load_tile_f32<T, kSimpleThreads>(sk, ld, k, p.k_stride.seq, n0, seq_k, kSimpleTile, dn);
    load_tile_f32<T, kSimpleThreads>(sv, ld, v, p.v_stride.seq, n0, seq_k, kSimpleTile, dn);
    __syncthreads();
    const int j = n0 + lane;
    const bool key_ok = key_allowed(p, b, j);
    float s[kSimpleRowsPerWarp] = {}, dp[kSimpleRowsPerWarp] = {};
    for (int d = 0; d < dn; ++d) {
      const float kd = sk[lane * ld + d], vd = sv[lane * ld + d];
#pragma unroll
      for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
        s[r] += sq[(warp * kSimpleRowsPerWarp + r) * dn + d] * kd;
        dp[r] += sdo[(warp * kSimpleRowsPerWarp + r) * dn + d] * vd;
      }
    }
    float ds[kSimpleRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
      const bool ok = key_ok && (!p.causal || j <= row0 + r);
      float prob;
      simple_grad_entry(s[r], dp[r], lse_r[r], delta_r[r], ok, p.scale, prob, ds[r]);
    }
    for (int kk = 0; kk < kSimpleTile; ++kk) {
      float dsk[kSimpleRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kSimpleRowsPerWarp; ++r) dsk[r] = shfl_idx(ds[r], kk);
#pragma unroll
      for (int c = 0; c < kSimpleChunks; ++c) {
        const int d = c * 32 + lane;
        if (d < dn) {
          const float kd = sk[kk * ld + d];
#pragma unroll
          for (int r = 0; r < kSimpleRowsPerWarp; ++r) acc[r][c] += dsk[r] * kd;
        }
      }
    }
  }
  T* dq = slice_ptr<T>(p.dq, p.q_stride, b, h);
#pragma unroll
  for (int r = 0; r < kSimpleRowsPerWarp; ++r) {
    const int i = row0 + r;
    if (i >= seq_q) continue;
#pragma unroll
    for (int c = 0; c < kSimpleChunks; ++c) {
      const int d = c * 32 + lane;
      if (d < dn) dq[static_cast<int64_t>(i) * p.q_stride.seq + d] = from_f32<T>(acc[r][c] * p.scale);
    }
  }
}

}  // namespace attncamp::ops::cuda::attn
