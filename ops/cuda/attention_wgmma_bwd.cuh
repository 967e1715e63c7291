// Tensor-core attention backward with dQ by atomics on Hopper's warpgroup MMA (wgmma, sm_90a
// only) for T = __nv_bfloat16 or __half and head dim kD in {64, 128}: the structure of
// mma_dkdv_kernel<T, C, true> (attention_mma_bwd.cuh), with every product issued as wgmma by a
// warpgroup owning 64 keys. Per tile of 64 queries:
//   S^T = K Q^T and dP^T = V dO^T (both operands K-major in shared memory),
//   P^T and dS^T = P^T (dP^T - delta) elementwise on the accumulators (rows = the warp's keys),
//   dV += P^T dO and dK += dS^T Q (A from registers, dO and Q N-major),
//   dS^T into shared memory, then dQ = dS K (A = dS^T read M-major, K N-major), whose 64 x kD
//   accumulators are added to p.dq_accum with atomics.
// Q, K, V, dO and dS^T sit in shared memory in wgmma's core-matrix order (attention_wgmma.cuh,
// load_tile_cm_async). The query tiles are double-buffered, as in the mma.sync kernel.
#pragma once

#include "ops/cuda/attention_mma_bwd.cuh"
#include "ops/cuda/attention_wgmma_fwd.cuh"

namespace attncamp::ops::cuda::attn {

// Tile shape of the wgmma dK/dV/dQ kernel: one warpgroup of 64 keys per block, 64 queries per
// walked tile; kMinBlocks caps the registers as for the other kernels. With kKvRegs each warp keeps
// its 16 keys' K and V rows in registers (kD / 2 more per thread) as the A operands of S^T and
// dP^T, so those wgmma read only Q and dO from shared memory (half the operand traffic of the
// shared-memory form, which at N = 64 needs all of shared memory's bandwidth to keep up with the
// tensor cores).
template <int kD, int kMinBlocks = 1, bool kKvRegs = false>
struct WgmmaDkdvConfig {
  static_assert(kD == 64 || kD == 128, "the wgmma backward supports head dim 64 and 128");
  static constexpr int kHeadDim = kD, kRowTiles = 1, kThreads = 128, kBlocksPerSm = kMinBlocks;
  static constexpr int kKeys = 64, kTileQueries = 64;
  static constexpr bool kWgmma = true, kKvInRegisters = kKvRegs;
  // sK, sV [kKeys][kD], sQ, sdO [2][kTileQueries][kD] (16-bit, core-matrix order), dS^T
  // [kKeys][kTileQueries] (core-matrix order), lse and delta [2][kTileQueries] (f32), key flags
  // [kKeys].
  static constexpr size_t kSmemBytes = size_t{2} * (2 * kKeys + 4 * kTileQueries) * kD +
                                       size_t{2} * kKeys * kTileQueries + sizeof(float) * 4 * kTileQueries + kKeys;
  static constexpr size_t smem_bytes(bool /*dq*/) { return kSmemBytes; }
};

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

// Grid (key tiles of 64, H, B), C::kSmemBytes of dynamic shared memory, 128 threads. p.dq_accum
// (zeroed beforehand) receives the unscaled dQ sums.
template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, C::kBlocksPerSm) wgmma_dkdvq_kernel(const AttentionArgs p) {
  constexpr int kD = C::kHeadDim, kN = C::kKeys, kM = C::kTileQueries, kThreads = C::kThreads;
  constexpr uint32_t kRowsD = kRowGroupBytes<kD>, kRowsM = kRowGroupBytes<kM>;  // 8 rows of kD / kM columns
  T* sk = reinterpret_cast<T*>(dynamic_smem());
  T* sv = sk + kN * kD;
  T* sq = sv + kN * kD;                                         // [2][kM][kD]
  T* sdo = sq + 2 * kM * kD;                                    // [2][kM][kD]
  T* sds = sdo + 2 * kM * kD;                                   // [kN][kM]: dS^T of the tile
  float* slse = reinterpret_cast<float*>(sds + kN * kM);        // [2][kM]: lse of query m0 + c
  float* sdelta = slse + 2 * kM;                                // [2][kM]: delta of query m0 + c
  uint8_t* skey = reinterpret_cast<uint8_t*>(sdelta + 2 * kM);  // [kN]: key n0 + c may be attended

  const int n0 = blockIdx.x * kN;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int seq_q = static_cast<int>(p.seq_q);
  const int m_begin = p.causal ? n0 / kM * kM : 0;  // causal: only queries i >= n0
  const int m_tiles = m_begin < seq_q ? (seq_q - m_begin + kM - 1) / kM : 0;
  const DkdvQueries<T, kM, kD, kThreads, true> queries(p, b, h);
  auto load_queries = [&](int tile_q) {  // query tile tile_q into buffer tile_q % 2
    const int buf = tile_q & 1;
    queries.load(p, sq + buf * kM * kD, sdo + buf * kM * kD, slse + buf * kM, sdelta + buf * kM, m_begin + tile_q * kM);
  };
  dkdv_load_keys<T, kN, kD, kThreads, true>(sk, sv, skey, p, b, h, n0);
  if (m_tiles > 0) load_queries(0);
  cp_async_commit();
  tiles_landed<true>();

  // K and V as the A of S^T and dP^T (K-major: 16 columns of d are two core matrices on); K as
  // the B of dQ = dS K (B[k = key][n = d], N-major: LBO the next 8 keys, SBO the next 8 columns).
  [[maybe_unused]] const uint64_t k_desc = wgmma_desc(sk, kCoreBytes, kRowsD),
                                  v_desc = wgmma_desc(sv, kCoreBytes, kRowsD);
  const uint64_t kn_desc = wgmma_desc(sk, kRowsD, kCoreBytes);
  // dS^T [key][query] as the A of dQ (A[m = query][k = key], M-major: LBO the next 8 keys, SBO
  // the next 8 queries).
  const uint64_t ds_desc = wgmma_desc(sds, kRowsM, kCoreBytes);
  float dk[1][kD / 8][4] = {}, dv[1][kD / 8][4] = {};  // rows: the warp's keys 16 warp + g (+ 8)
  const int key_local[1][2] = {{16 * warp + g, 16 * warp + g + 8}};
  // kKvInRegisters: the A fragments of the warp's 16 keys, 16 columns of d per k-step.
  uint32_t ka[C::kKvInRegisters ? kD / 16 : 1][4], va[C::kKvInRegisters ? kD / 16 : 1][4];
  if constexpr (C::kKvInRegisters) {
    core_matrix_a_fragments<kD>(ka, sk, warp, g, t);
    core_matrix_a_fragments<kD>(va, sv, warp, g, t);
  }
  for (int it = 0; it < m_tiles; ++it) {
    // Buffer (it + 1) % 2 was last read by wgmma waited for in iteration it - 1.
    if (it + 1 < m_tiles) {
      load_queries(it + 1);
      cp_async_commit();
    }
    const int m0 = m_begin + it * kM;
    const T* sqj = sq + (it & 1) * kM * kD;
    const T* sdoj = sdo + (it & 1) * kM * kD;
    const float* slsej = slse + (it & 1) * kM;
    const float* sdeltaj = sdelta + (it & 1) * kM;

    // S^T = K Q^T, dP^T = V dO^T: B[k = d][n = query] = Q[query][d] (dO) is K-major.
    float st[1][kM / 8][4], dpt[1][kM / 8][4];  // one row tile: the warp's 16 keys
    const uint64_t q_desc = wgmma_desc(sqj, kCoreBytes, kRowsD), do_desc = wgmma_desc(sdoj, kCoreBytes, kRowsD);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      if constexpr (C::kKvInRegisters) {
        wgmma_rs<T, kM>(st[0], ka[kk], wgmma_desc_add(q_desc, 2 * kCoreBytes * kk), kk > 0);
        wgmma_rs<T, kM>(dpt[0], va[kk], wgmma_desc_add(do_desc, 2 * kCoreBytes * kk), kk > 0);
      } else {
        wgmma_ss<T, kM>(st[0], wgmma_desc_add(k_desc, 2 * kCoreBytes * kk), wgmma_desc_add(q_desc, 2 * kCoreBytes * kk),
                        kk > 0);
        wgmma_ss<T, kM>(dpt[0], wgmma_desc_add(v_desc, 2 * kCoreBytes * kk),
                        wgmma_desc_add(do_desc, 2 * kCoreBytes * kk), kk > 0);
      }
    }
    wgmma_commit();
    wgmma_wait<0>();
    wgmma_fence_operand(st[0]);
    wgmma_fence_operand(dpt[0]);
    dkdv_probs<kN>(st, dpt, p, skey, slsej, sdeltaj, key_local, n0, m0, t);
    // dS^T into shared memory (core-matrix order, rows = keys): the previous tile's dQ wgmma
    // were waited for before the last iteration's closing __syncthreads.
#pragma unroll
    for (int j = 0; j < kM / 8; ++j) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int kl = key_local[0][r];
        *reinterpret_cast<uint32_t*>(reinterpret_cast<unsigned char*>(sds) + (kl / 8) * kRowsM + j * kCoreBytes +
                                     (kl % 8) * 16 + 4 * t) = pack2<T>(dpt[0][j][2 * r], dpt[0][j][2 * r + 1]);
      }
    }
    // dV += P^T dO, dK += dS^T Q: A from the C fragments of query n-blocks 2 kk, 2 kk + 1;
    // B[k = query][n = d] = dO[query][d] (Q) is N-major: 16 queries are two 8-row groups on.
    uint32_t pa[kM / 16][4], dsa[kM / 16][4];
#pragma unroll
    for (int kk = 0; kk < kM / 16; ++kk) {
      a_from_c<T>(pa[kk], st[0][2 * kk], st[0][2 * kk + 1]);
      a_from_c<T>(dsa[kk], dpt[0][2 * kk], dpt[0][2 * kk + 1]);
    }
    const uint64_t don_desc = wgmma_desc(sdoj, kRowsD, kCoreBytes), qn_desc = wgmma_desc(sqj, kRowsD, kCoreBytes);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kM / 16; ++kk) {
      wgmma_rs_bt<T, kD>(dv[0], pa[kk], wgmma_desc_add(don_desc, 2 * kRowsD * kk), true);
      wgmma_rs_bt<T, kD>(dk[0], dsa[kk], wgmma_desc_add(qn_desc, 2 * kRowsD * kk), true);
    }
    wgmma_commit();
    fence_proxy_async();  // this thread's dS^T stores, before wgmma reads them ...
    __syncthreads();      // ... once every warp has stored its keys' rows
    // dQ = dS K over the block's 64 keys: A[m = query][k = key] = dS^T[key][query].
    float dq[kD / 8][4];
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kN / 16; ++kk) {
      wgmma_ss_tt<T, kD>(dq, wgmma_desc_add(ds_desc, 2 * kRowsM * kk), wgmma_desc_add(kn_desc, 2 * kRowsD * kk),
                         kk > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();
    wgmma_fence_operand(dq);
    wgmma_fence_operand(dk[0]);
    wgmma_fence_operand(dv[0]);
    // Rows of dq: queries m0 + 16 warp + g (+ 8), columns 8 nb + 2 t (+ 1).
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int i = m0 + 16 * warp + g + 8 * r;
      if (i >= seq_q) continue;
      float* row = p.dq_accum + ((b * p.heads + h) * p.seq_q + i) * kD;
#pragma unroll
      for (int nb = 0; nb < kD / 8; ++nb) atomic_add2(row + 8 * nb + 2 * t, dq[nb][2 * r], dq[nb][2 * r + 1]);
    }
    tiles_landed<true>();  // tile it + 1 is in for all and wgmma; nobody reads buffer it % 2 or dS^T
  }

  // Every key of the tile is written (masked keys and keys no query reaches get 0).
  dkdv_store<T, 1, kD>(p, dk, dv, key_local, n0, b, h, t);
}

}  // namespace attncamp::ops::cuda::attn
