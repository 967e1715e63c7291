// The tile-shape variants of the attention forward and of the atomic-dQ backward's dK/dV kernel:
// mma.sync shapes (attention_mma_fwd.cuh, attention_mma_bwd.cuh) and, at head dims 64 and 128,
// wgmma ones (attention_wgmma_fwd.cuh, attention_wgmma_bwd.cuh; sm_90a).
#pragma once

#include <string>
#include <type_traits>

#include "ops/cuda/attention_mma_bwd.cuh"
#include "ops/cuda/attention_mma_fwd.cuh"
#include "ops/cuda/attention_wgmma_bwd.cuh"
#include "ops/cuda/attention_wgmma_fwd.cuh"

namespace attncamp::ops::cuda::attn {

// The forward's tile-shape variants (MmaFwdShape first: at D = 64 FlashAttention-2's 128 x 128
// tile with Q read from shared memory (kQInSmem; 254 registers), at D = 128 two row tiles of 32
// keys with Q in shared memory (242 registers)), picked by AttentionOptions::forward_variant or
// timed by the autotuner ($ATTNCAMP_ATTENTION_AUTOTUNE). Each is also an attention_tune candidate
// and checked in the CPU emulation (test_ops_emu_attention). At D = 64: the earlier default (Q in
// registers, 64-key tiles), two warps per block (4 blocks per SM), a register cap for 4 blocks, 8
// warps of one row tile, the pipelined kernel (next tile's scores issued before this tile's
// softmax) in three shapes, and with Q in shared memory 3 blocks per SM (168 registers, 4 bytes
// spilled) and the pipelined kernel on 64-key tiles (255). At D = 128: the earlier default (Q in
// registers: 255 registers, 16 bytes spilled), two warps, one row tile of 64 keys and the
// pipelined kernel. Last, the wgmma forward
// (compute capability 9.0 only; other devices get an error naming the variant): at D = 64 one
// warpgroup on 128-key tiles (3 blocks per SM), two warpgroups on 128- and 64-key tiles, and the
// pipelined wgmma kernel (one tile's P V in flight during the next tile's softmax) with one warpgroup on 128
// keys and on 64 (3 blocks per SM); at D = 128 one and two warpgroups on 64-key tiles and the pipelined kernel.
// Then the wgmma forward with Q in registers (S = Q K^T reads only K from shared memory): at D = 64
// two warpgroups on 128-key tiles and the pipelined kernel on 128, at D = 128 the pipelined kernel.
template <int kD>
struct MmaFwdVariantsFor {
  using type = TileList<MmaFwdShape<kD>>;
};
template <>
struct MmaFwdVariantsFor<64> {
  using type =
      TileList<MmaFwdShape<64>, MmaFwdConfig<64, 2, 64, 4>, MmaFwdConfig<64, 2, 64, 2>, MmaFwdConfig<64, 1, 64, 4, 4>,
               MmaFwdConfig<64, 1, 64, 8>, MmaFwdConfig<64, 2, 32, 4, 1, true>, MmaFwdConfig<64, 1, 64, 4, 1, true>,
               MmaFwdConfig<64, 1, 64, 4, 3, true>, MmaFwdConfig<64, 2, 64, 4, 3, false, true>,
               MmaFwdConfig<64, 2, 64, 4, 1, true, true>, WgmmaFwdConfig<64, 128, 1, 3>, WgmmaFwdConfig<64, 128, 2>,
               WgmmaFwdConfig<64, 64, 2>, WgmmaFwdConfig<64, 128, 1, 1, true>, WgmmaFwdConfig<64, 64, 1, 3, true>,
               WgmmaFwdConfig<64, 128, 2, 1, false, true>, WgmmaFwdConfig<64, 128, 1, 1, true, true>>;
};
template <>
struct MmaFwdVariantsFor<128> {
  using type =
      TileList<MmaFwdShape<128>, MmaFwdConfig<128, 2, 32, 4>, MmaFwdConfig<128, 2, 32, 2>, MmaFwdConfig<128, 1, 64, 4>,
               MmaFwdConfig<128, 1, 64, 4, 1, true>, WgmmaFwdConfig<128, 64, 1>, WgmmaFwdConfig<128, 64, 2>,
               WgmmaFwdConfig<128, 64, 1, 1, true>, WgmmaFwdConfig<128, 64, 1, 1, true, true>>;
};
template <int kD>
using MmaFwdVariants = typename MmaFwdVariantsFor<kD>::type;

// The atomic-dQ backward's tile-shape variants for the dK/dV kernel with dQ (MmaBwdShape::Dkdvq
// first), picked by AttentionOptions::backward_variant or timed by the autotuner. Each is an
// attention_tune candidate and checked in the CPU emulation. At D = 64: one 64-key row tile, a
// register cap for 3 blocks, 8 and 2 warps, FlashAttention-2's 128 x 64 tile of 8 warps, one row
// tile per warp with 8 warps (209 registers: 16 warps per SM) or capped for 4 blocks of 4 (128
// registers, no spills; twice the dQ atomics, 64 keys per block). At D = 128: 2 and 8 warps,
// 16-query tiles with 4 and 8 warps (128 x 64 with 8 warps spills there). Last, at both, the wgmma
// kernel (one warpgroup of 64 keys, 64-query tiles; compute capability 9.0 only: 178 registers at
// D = 64, 252 at D = 128; capped for 3 blocks per SM at D = 64, ptxas serializes its wgmma), and at
// D = 64 the wgmma kernel with K and V in registers (S^T and dP^T read only Q and dO from shared
// memory; 209 registers), its pipelined form (a tile's dV, dK and dQ run under the next tile's S^T
// and dP^T; 230 registers) and both (253); then, at both head dims, blocks of two warpgroups
// (128 keys sharing the query tiles, dQ split by columns: half the query loads and dQ atomics per
// key; one block per SM): at D = 64 plain (171 registers) and with K and V in registers and
// pipelined (237), at D = 128 plain (241).
template <int kD>
struct MmaBwdVariantsFor {
  using type = TileList<typename MmaBwdShape<kD>::Dkdvq>;
};
template <>
struct MmaBwdVariantsFor<64> {
  using type =
      TileList<MmaBwdShape<64>::Dkdvq, MmaDkdvConfig<64, 1, 64, 4>, MmaDkdvConfig<64, 1, 32, 4, 3>,
               MmaDkdvConfig<64, 2, 32, 8>, MmaDkdvConfig<64, 2, 32, 2>, MmaDkdvConfig<64, 1, 64, 8>,
               MmaDkdvConfig<64, 1, 32, 8>, MmaDkdvConfig<64, 1, 32, 4, 4>, WgmmaDkdvConfig<64>,
               WgmmaDkdvConfig<64, 1, true>, WgmmaDkdvConfig<64, 1, false, true>, WgmmaDkdvConfig<64, 1, true, true>,
               WgmmaDkdvConfig<64, 1, false, false, 2>, WgmmaDkdvConfig<64, 1, true, true, 2>>;
};
template <>
struct MmaBwdVariantsFor<128> {
  using type = TileList<MmaBwdShape<128>::Dkdvq, MmaDkdvConfig<128, 1, 32, 2>, MmaDkdvConfig<128, 1, 16, 4>,
                        MmaDkdvConfig<128, 1, 32, 8>, MmaDkdvConfig<128, 1, 16, 8>, WgmmaDkdvConfig<128>,
                        WgmmaDkdvConfig<128, 1, false, false, 2>>;
};
template <int kD>
using MmaBwdVariants = typename MmaBwdVariantsFor<kD>::type;

// The backward's default on compute capability 9.0 devices (H100, H200) in builds with sm_90a code;
// elsewhere the list's first. The two-warpgroup wgmma kernels were the fastest of every backward
// variant on an H200 at S = 1024 and 4096 (D = 64 with K and V in registers, pipelined: 1.32 ms
// against 1.51 for the mma.sync default at S = 1024; D = 128: 1.36 against 1.92) and within 4 %
// of it at S = 256 (benchmarks/RESULTS.md).
template <int kD>
struct MmaBwdSm90DefaultFor {
  using type = typename MmaBwdShape<kD>::Dkdvq;
};
template <>
struct MmaBwdSm90DefaultFor<64> {
  using type = WgmmaDkdvConfig<64, 1, true, true, 2>;
};
template <>
struct MmaBwdSm90DefaultFor<128> {
  using type = WgmmaDkdvConfig<128, 1, false, false, 2>;
};

// Index of C in a list (-1 if absent).
template <class C, class... L>
constexpr int index_in(TileList<L...> /*list*/) {
  int i = 0, found = -1;
  ((found = found < 0 && std::is_same_v<C, L> ? i : found, ++i), ...);
  return found;
}
template <int kD>
inline constexpr int kMmaBwdSm90Default = index_in<typename MmaBwdSm90DefaultFor<kD>::type>(MmaBwdVariants<kD>{});
static_assert(kMmaBwdSm90Default<32> == 0 && kMmaBwdSm90Default<64> > 0 && kMmaBwdSm90Default<128> > 0,
              "the compute capability 9.0 defaults are among the variants");

// The variants' names (attention_mma_variants, the autotuner's choices, the tests' traces).
// "<D,row tiles per warp,warps w[,min blocks per SM b]>" of a tile shape.
template <class C>
std::string tile_shape_name() {
  return "<" + std::to_string(C::kHeadDim) + "," + std::to_string(C::kRowTiles) + "," +
         std::to_string(C::kThreads / 32) + "w" +
         (C::kBlocksPerSm > 1 ? "," + std::to_string(C::kBlocksPerSm) + "b" : "") + ">";
}
// A forward shape: keys per walked tile, whether it runs the pipelined kernel, the wgmma kernel (Q
// in registers) or reads Q from shared memory.
template <class C>
std::string forward_shape_name() {
  return tile_shape_name<C>() + " n" + std::to_string(C::kKeys) + (C::kPipelined ? " pipelined" : "") +
         (C::kWgmma     ? " wgmma"
          : C::kQInSmem ? " q-smem"
                        : "") +
         (C::kQInRegisters ? " q-regs" : "");
}
// A dK/dV shape: queries per walked tile, whether it runs the wgmma kernel, keeps K and V in
// registers and pipelines its tiles.
template <class C>
std::string dkdv_shape_name() {
  return tile_shape_name<C>() + " q" + std::to_string(C::kTileQueries) + (C::kWgmma ? " wgmma" : "") +
         (C::kKvInRegisters ? " kv-regs" : "") + (C::kPipelined ? " pipelined" : "");
}

}  // namespace attncamp::ops::cuda::attn
