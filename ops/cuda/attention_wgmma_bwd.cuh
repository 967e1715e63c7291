// Tensor-core attention backward with dQ by atomics on Hopper's warpgroup MMA (wgmma, sm_90a
// only) for T = __nv_bfloat16 or __half and head dim kD in {64, 128}: the structure of
// mma_dkdv_kernel<T, C, DkdvDq::kAtomic> (attention_mma_bwd.cuh), with every product issued as
// wgmma by a warpgroup owning 64 keys (one or two warpgroups per block). Per tile of 64 queries:
//   S^T = K Q^T and dP^T = V dO^T (both operands K-major in shared memory, or K and V from
//   registers),
//   P^T and dS^T = P^T (dP^T - delta) elementwise on the accumulators (rows = the warp's keys),
//   dV += P^T dO and dK += dS^T Q (A from registers, dO and Q N-major),
//   dS^T into shared memory, then dQ = dS K (A = dS^T read M-major, K N-major), whose 64 x kD
//   accumulators are added to p.dq_accum with atomics.
// Q, K, V, dO and dS^T sit in shared memory in wgmma's core-matrix order (attention_wgmma.cuh,
// load_tile_cm_async). The query tiles are double-buffered, as in the mma.sync kernel.
//
// The pipelined form (WgmmaDkdvConfig with Loop::kPipelined) leaves a tile's dV, dK and dQ wgmma in
// flight while the next tile's S^T and dP^T are issued, and waits for them (and adds dQ to
// p.dq_accum) only then, so the dQ atomics and the wait for dQ overlap the tensor cores' next
// products. Its query tiles are triple-buffered and dS^T double-buffered (a tile's buffers are
// read until the next iteration's wait), and one barrier per tile both publishes dS^T and lands
// the next query tile.
#pragma once

#include "ops/cuda/attention_mma_bwd.cuh"
#include "ops/cuda/attention_wgmma_fwd.cuh"

namespace attncamp::ops::cuda::attn {

// Where the wgmma backward's S^T = K Q^T and dP^T = V dO^T take K and V from: shared memory (both
// operands described to wgmma), or the warp's 16 keys' rows loaded into registers once per block as
// A fragments (kD / 2 more registers per thread), so those wgmma read only Q and dO from shared
// memory: half the operand traffic of the shared-memory form, which at N = 64 needs all of shared
// memory's bandwidth to keep up with the tensor cores.
enum class KvFrom { kSharedMemory, kRegisters };

// Tile shape of the wgmma dK/dV/dQ kernel: kGroups warpgroups of 64 keys per block, 64 queries per
// walked tile; kMinBlocks caps the registers as for the other kernels; kKv where S^T and dP^T take
// K and V from. Loop::kPipelined selects the pipelined form (above; dQ's kD / 2 accumulators stay
// live across the next tile's S^T and dP^T). With kGroups = 2 a block of two warpgroups owns 128
// keys (64 each): they share the query tiles, which halves the query-side loads per key, and split
// dQ = dS K by columns (each warpgroup kD / 2 columns over all 128 keys), which halves the dQ
// atomics per key; dS^T of both goes through shared memory before dQ.
template <int kD, int kMinBlocks = 1, KvFrom kKv = KvFrom::kSharedMemory, Loop kLoop = Loop::kPlain, int kGroups = 1>
struct WgmmaDkdvConfig {
  static_assert(kD == 64 || kD == 128, "the wgmma backward supports head dim 64 and 128");
  static_assert(kGroups == 1 || kGroups == 2, "one or two warpgroups per block");
  static constexpr int kHeadDim = kD, kRowTiles = 1, kThreads = 128 * kGroups, kBlocksPerSm = kMinBlocks;
  static constexpr int kWarpgroups = kGroups, kKeys = 64 * kGroups, kTileQueries = 64, kDqColumns = kD / kGroups;
  static constexpr bool kWgmma = true, kKvInRegisters = kKv == KvFrom::kRegisters,
                        kPipelined = kLoop == Loop::kPipelined;
  static constexpr int kQueryBuffers = kPipelined ? 3 : 2, kDsBuffers = kPipelined ? 2 : 1;
  // sK, sV [kKeys][kD], sQ, sdO [kQueryBuffers][kTileQueries][kD] (16-bit, core-matrix order),
  // dS^T [kDsBuffers][kKeys][kTileQueries] (core-matrix order), lse and delta
  // [kQueryBuffers][kTileQueries] (f32), key flags [kKeys].
  static constexpr size_t kSmemBytes = size_t{2} * (2 * kKeys + 2 * kQueryBuffers * kTileQueries) * kD +
                                       size_t{2} * kDsBuffers * kKeys * kTileQueries +
                                       sizeof(float) * 2 * kQueryBuffers * kTileQueries + kKeys;
  static constexpr size_t smem_bytes(DkdvDq /*dq: always kAtomic*/) { return kSmemBytes; }
};

// The shared memory and the per-tile steps of wgmma_dkdvq_kernel's block, for both loop forms.
template <typename T, class C>
struct WgmmaDkdvBlock {
  static constexpr int kD = C::kHeadDim, kN = C::kKeys, kM = C::kTileQueries;
  static constexpr int kQBufs = C::kQueryBuffers, kDsBufs = C::kDsBuffers;
  static constexpr uint32_t kRowsD = kRowGroupBytes<kD>, kRowsM = kRowGroupBytes<kM>;  // 8 rows of kD / kM columns
  using Scores = float[1][kM / 8][4];      // one row tile: the warp's 16 keys, the tile's queries
  using Dkv = float[1][kD / 8][4];         // rows: the warp's keys 16 warp + g (+ 8)
  using Dq = float[C::kDqColumns / 8][4];  // rows: the tile's queries; the warpgroup's columns of dQ
  using KvFragments = uint32_t[C::kKvInRegisters ? kD / 16 : 1][4];

  T* sk;
  T* sv;
  T* sq;          // [kQBufs][kM][kD]
  T* sdo;         // [kQBufs][kM][kD]
  T* sds;         // [kDsBufs][kN][kM]: dS^T of the tile
  float* slse;    // [kQBufs][kM]: lse of query m0 + c
  float* sdelta;  // [kQBufs][kM]: delta of query m0 + c
  uint8_t* skey;  // [kN]: key n0 + c may be attended
  int warp, g, t;
  int group, group_warp;  // the warpgroup (its keys 64 group ..), the warp in it

  __device__ __forceinline__ WgmmaDkdvBlock() {
    sk = reinterpret_cast<T*>(dynamic_smem());
    sv = sk + kN * kD;
    sq = sv + kN * kD;
    sdo = sq + kQBufs * kM * kD;
    sds = sdo + kQBufs * kM * kD;
    slse = reinterpret_cast<float*>(sds + kDsBufs * kN * kM);
    sdelta = slse + kQBufs * kM;
    skey = reinterpret_cast<uint8_t*>(sdelta + kQBufs * kM);
    warp = threadIdx.x / 32;
    group = warp / 4;
    group_warp = warp % 4;
    const int lane = threadIdx.x % 32;
    g = lane / 4;
    t = lane % 4;
  }
  __device__ __forceinline__ const T* q_buf(int buf) const { return sq + buf * kM * kD; }
  __device__ __forceinline__ const T* do_buf(int buf) const { return sdo + buf * kM * kD; }
  __device__ __forceinline__ T* ds_buf(int buf) const { return sds + buf * kN * kM; }

  // Issues S^T = K Q^T and dP^T = V dO^T of the warpgroup's keys and the query tile in buffer
  // `buf`: B[k = d][n = query] = Q[query][d] (dO) is K-major; K and V as the A (K-major: 16 columns
  // of d are two core matrices on), from shared memory or, with kKvInRegisters, from ka and va.
  __device__ __forceinline__ void issue_scores(Scores& st, Scores& dpt, const KvFragments& ka, const KvFragments& va,
                                               int buf) const {
    const uint64_t q_desc = wgmma_desc(q_buf(buf), kCoreBytes, kRowsD);
    const uint64_t do_desc = wgmma_desc(do_buf(buf), kCoreBytes, kRowsD);
    [[maybe_unused]] const uint64_t k_desc = wgmma_desc(sk + 64 * group * kD, kCoreBytes, kRowsD);
    [[maybe_unused]] const uint64_t v_desc = wgmma_desc(sv + 64 * group * kD, kCoreBytes, kRowsD);
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
  }
  // dS^T (dpt after dkdv_probs) into dS^T buffer `ds` (core-matrix order, rows = keys).
  __device__ __forceinline__ void store_ds(const Scores& dpt, const int (&key_local)[1][2], int ds) const {
    unsigned char* base = reinterpret_cast<unsigned char*>(ds_buf(ds));
#pragma unroll
    for (int j = 0; j < kM / 8; ++j) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int kl = key_local[0][r];
        *reinterpret_cast<uint32_t*>(base + (kl / 8) * kRowsM + j * kCoreBytes + (kl % 8) * 16 + 4 * t) =
            pack2<T>(dpt[0][j][2 * r], dpt[0][j][2 * r + 1]);
      }
    }
  }
  // Issues dV += P^T dO and dK += dS^T Q (after a wgmma_fence): A from the C fragments of query
  // n-blocks 2 kk, 2 kk + 1; B[k = query][n = d] = dO[query][d] (Q) is N-major: 16 queries are two
  // 8-row groups on.
  __device__ __forceinline__ void issue_dvdk(Dkv& dv, Dkv& dk, const Scores& st, const Scores& dpt, int buf) const {
    uint32_t pa[kM / 16][4], dsa[kM / 16][4];
#pragma unroll
    for (int kk = 0; kk < kM / 16; ++kk) {
      a_from_c<T>(pa[kk], st[0][2 * kk], st[0][2 * kk + 1]);
      a_from_c<T>(dsa[kk], dpt[0][2 * kk], dpt[0][2 * kk + 1]);
    }
    const uint64_t don_desc = wgmma_desc(do_buf(buf), kRowsD, kCoreBytes);
    const uint64_t qn_desc = wgmma_desc(q_buf(buf), kRowsD, kCoreBytes);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kM / 16; ++kk) {
      wgmma_rs_bt<T, kD>(dv[0], pa[kk], wgmma_desc_add(don_desc, 2 * kRowsD * kk), true);
      wgmma_rs_bt<T, kD>(dk[0], dsa[kk], wgmma_desc_add(qn_desc, 2 * kRowsD * kk), true);
    }
  }
  // Issues the warpgroup's columns of dQ = dS K over the block's keys: A[m = query][k = key] =
  // dS^T[key][query] M-major (LBO the next 8 keys, SBO the next 8 queries); B[k = key][n = d] = K
  // N-major (LBO the next 8 keys, SBO the next 8 columns).
  __device__ __forceinline__ void issue_dq(Dq& dq, int ds) const {
    constexpr int kCols = C::kDqColumns;
    const uint64_t ds_desc = wgmma_desc(ds_buf(ds), kRowsM, kCoreBytes);
    const uint64_t kn_desc = wgmma_desc_add(wgmma_desc(sk, kRowsD, kCoreBytes), group * (kCols / 8) * kCoreBytes);
#pragma unroll
    for (int kk = 0; kk < kN / 16; ++kk) {
      wgmma_ss_tt<T, kCols>(dq, wgmma_desc_add(ds_desc, 2 * kRowsM * kk), wgmma_desc_add(kn_desc, 2 * kRowsD * kk),
                            kk > 0);
    }
  }
  // P^T and dS^T in place of S^T and dP^T of the query tile in buffer `buf` at query m0, once their
  // wgmma were waited for.
  __device__ __forceinline__ void take_probs(Scores& st, Scores& dpt, const AttentionArgs& p,
                                             const int (&key_local)[1][2], int n0, int m0, int buf) const {
    wgmma_fence_operand(st[0]);
    wgmma_fence_operand(dpt[0]);
    dkdv_probs<kN>(st, dpt, p, skey, slse + buf * kM, sdelta + buf * kM, key_local, n0, m0, t);
  }
  // Once the tile's dV, dK and dQ wgmma were waited for: dQ onto p.dq_accum (add_dq), with dK and
  // dV pinned below the wait.
  __device__ __forceinline__ void finish_tile(const AttentionArgs& p, Dq& dq, Dkv& dk, Dkv& dv, int64_t b, int64_t h,
                                              int m0) const {
    wgmma_fence_operand(dq);
    wgmma_fence_operand(dk[0]);
    wgmma_fence_operand(dv[0]);
    add_dq(p, dq, b, h, m0);
  }
  // dQ's accumulators of the tile at query m0 onto p.dq_accum (rows 16 group_warp + g, + 8;
  // columns kDqColumns group + 8 nb + 2 t, + 1).
  __device__ __forceinline__ void add_dq(const AttentionArgs& p, const Dq& dq, int64_t b, int64_t h, int m0) const {
    constexpr int kCols = C::kDqColumns;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int i = m0 + 16 * group_warp + g + 8 * r;
      if (i >= p.seq_q) continue;
      float* row = p.dq_accum + ((b * p.heads + h) * p.seq_q + i) * kD + kCols * group;
#pragma unroll
      for (int nb = 0; nb < kCols / 8; ++nb) atomic_add2(row + 8 * nb + 2 * t, dq[nb][2 * r], dq[nb][2 * r + 1]);
    }
  }
};

// Grid (key tiles of C::kKeys, H, B), C::kSmemBytes of dynamic shared memory, C::kThreads threads. p.dq_accum
// (zeroed beforehand) receives the unscaled dQ sums.
template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, C::kBlocksPerSm) wgmma_dkdvq_kernel(const AttentionArgs p) {
  using Block = WgmmaDkdvBlock<T, C>;
  constexpr int kD = Block::kD, kN = Block::kN, kM = Block::kM, kQBufs = Block::kQBufs, kThreads = C::kThreads;
  const Block blk;
  const int n0 = blockIdx.x * kN;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int warp = blk.warp, g = blk.g, t = blk.t;
  const int seq_q = static_cast<int>(p.seq_q);
  const int m_begin = p.causal ? n0 / kM * kM : 0;  // causal: only queries i >= n0
  const int m_tiles = m_begin < seq_q ? (seq_q - m_begin + kM - 1) / kM : 0;
  const DkdvQueries<T, kM, kD, kThreads, TileReader::kWgmma> queries(p, b, h);
  auto load_queries = [&](int tile_q) {  // query tile tile_q into buffer tile_q % kQBufs
    const int buf = tile_q % kQBufs;
    queries.load(p, blk.sq + buf * kM * kD, blk.sdo + buf * kM * kD, blk.slse + buf * kM, blk.sdelta + buf * kM,
                 m_begin + tile_q * kM);
  };
  dkdv_load_keys<T, kN, kD, kThreads, TileReader::kWgmma>(blk.sk, blk.sv, blk.skey, p, b, h, n0);
  if (m_tiles > 0) load_queries(0);
  cp_async_commit();
  tiles_landed<TileReader::kWgmma>();

  typename Block::Dkv dk = {}, dv = {};
  const int key_local[1][2] = {{16 * warp + g, 16 * warp + g + 8}};
  // kKvInRegisters: the A fragments of the warp's 16 keys, 16 columns of d per k-step.
  typename Block::KvFragments ka, va;
  if constexpr (C::kKvInRegisters) {
    core_matrix_a_fragments<kD>(ka, blk.sk, warp, g, t);
    core_matrix_a_fragments<kD>(va, blk.sv, warp, g, t);
  }
  typename Block::Scores st, dpt;
  if constexpr (C::kPipelined) {
    // Every wgmma of an iteration is issued unconditionally (a conditional one makes ptxas
    // serialize them all), and only S^T and dP^T stay in flight across iterations: the last
    // iteration issues the last tile's again, to be waited for and dropped after the loop.
    if (m_tiles == 0) {
      dkdv_store<T, 1, kD>(p, dk, dv, key_local, n0, b, h, t);
      return;
    }
    if (m_tiles > 1) load_queries(1);
    cp_async_commit();
    wgmma_fence();
    blk.issue_scores(st, dpt, ka, va, 0);
    wgmma_commit();
    for (int it = 0; it < m_tiles; ++it) {
      const int m0 = m_begin + it * kM, buf = it % kQBufs, ds = it % C::kDsBuffers;
      wgmma_wait<0>();  // S^T and dP^T of tile it (everything else was waited for)
      blk.take_probs(st, dpt, p, key_local, n0, m0, buf);
      // Buffer ds was last read by the dQ of tile it - 2, waited for before the last barrier.
      blk.store_ds(dpt, key_local, ds);
      blk.issue_dvdk(dv, dk, st, dpt, buf);
      wgmma_commit();
      tiles_landed<TileReader::kWgmma>();  // every warp's dS^T rows, and tile it + 1, for wgmma
      typename Block::Dq dq;
      wgmma_fence();
      blk.issue_dq(dq, ds);
      wgmma_commit();
      // Buffer (it + 2) % 3 was last read by the dV and dK of tile it - 1, waited for before the
      // barrier above.
      if (it + 2 < m_tiles) load_queries(it + 2);
      cp_async_commit();
      wgmma_fence();
      blk.issue_scores(st, dpt, ka, va, (it + 1 < m_tiles ? it + 1 : it) % kQBufs);
      wgmma_commit();
      wgmma_wait<1>();  // dV, dK and dQ of tile it; the next S^T and dP^T may still run
      blk.finish_tile(p, dq, dk, dv, b, h, m0);
    }
    wgmma_wait<0>();  // the repeated last S^T and dP^T
    wgmma_fence_operand(st[0]);
    wgmma_fence_operand(dpt[0]);
  } else {
    for (int it = 0; it < m_tiles; ++it) {
      // Buffer (it + 1) % 2 was last read by wgmma waited for in iteration it - 1.
      if (it + 1 < m_tiles) {
        load_queries(it + 1);
        cp_async_commit();
      }
      const int m0 = m_begin + it * kM, buf = it % kQBufs;
      wgmma_fence();
      blk.issue_scores(st, dpt, ka, va, buf);
      wgmma_commit();
      wgmma_wait<0>();
      blk.take_probs(st, dpt, p, key_local, n0, m0, buf);
      // The previous tile's dQ wgmma were waited for before the last iteration's closing barrier.
      blk.store_ds(dpt, key_local, 0);
      blk.issue_dvdk(dv, dk, st, dpt, buf);
      wgmma_commit();
      fence_proxy_async();  // this thread's dS^T stores, before wgmma reads them ...
      __syncthreads();      // ... once every warp has stored its keys' rows
      typename Block::Dq dq;
      wgmma_fence();
      blk.issue_dq(dq, 0);
      wgmma_commit();
      wgmma_wait<0>();
      blk.finish_tile(p, dq, dk, dv, b, h, m0);
      // Tile it + 1 is in for all and wgmma; nobody reads buffer it % 2 or dS^T any more.
      tiles_landed<TileReader::kWgmma>();
    }
  }

  // Every key of the tile is written (masked keys and keys no query reaches get 0).
  dkdv_store<T, 1, kD>(p, dk, dv, key_local, n0, b, h, t);
}

}  // namespace attncamp::ops::cuda::attn
