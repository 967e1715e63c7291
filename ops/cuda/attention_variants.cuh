// The attention tuning lab's tile shapes: the variants of the forward and of the atomic-dQ
// backward's dK/dV kernel that a test or benchmark picks by index (ScopedAttentionVariants,
// ops/attention_lab.h) and the autotuner times ($ATTNCAMP_ATTENTION_AUTOTUNE=1). Each list starts
// with the shape the launchers ship on every device (attention_shapes.cuh; the autotuner's
// reference) and holds the one shipped on compute capability 9.0; the rest are candidates, each
// checked in the GPU parity tests and the CPU emulation (test_ops_emu_attention). mma.sync shapes
// (attention_mma_fwd.cuh, attention_mma_bwd.cuh) and, at head dims 64 and 128, wgmma ones
// (attention_wgmma_fwd.cuh, attention_wgmma_bwd.cuh; sm_90a, compute capability 9.0 only: other
// devices get an error naming the variant). docs/gpu.md describes them; benchmarks/RESULTS.md
// has their registers and times.
#pragma once

#include <string>
#include <type_traits>

#include "ops/cuda/attention_mma_bwd.cuh"
#include "ops/cuda/attention_mma_fwd.cuh"
#include "ops/cuda/attention_shapes.cuh"
#include "ops/cuda/attention_wgmma_bwd.cuh"
#include "ops/cuda/attention_wgmma_fwd.cuh"

namespace attncamp::ops::cuda::attn {

// The forward's variants. At D = 64, beyond the shipped shape: Q in registers on 64-key tiles, the
// same with two warps per block, one row tile per warp capped for 4 blocks per SM and with 8
// warps, the pipelined kernel (the next tile's scores issued before this tile's softmax) in three
// shapes, Q in shared memory capped for 3 blocks per SM, and the pipelined kernel with Q in shared
// memory; then the wgmma forward: one warpgroup on 128-key tiles (3 blocks per SM), two warpgroups
// on 128- and 64-key tiles, the pipelined wgmma kernel (one tile's P V in flight during the next
// tile's softmax) with one warpgroup on 128 and on 64 keys, and with Q in registers (S = Q K^T
// reads only K from shared memory) two warpgroups on 128 keys and the pipelined kernel. At
// D = 128: Q in registers, the same with two warps, one row tile of 64 keys plain and pipelined,
// and the wgmma forward with one and two warpgroups, pipelined, and pipelined with Q in registers.
template <int kD>
struct MmaFwdVariantsFor {
  using type = TileList<typename AttentionShapes<kD>::Forward>;
};
template <>
struct MmaFwdVariantsFor<64> {
  using type = TileList<
      AttentionShapes<64>::Forward, MmaFwdConfig<64, 2, 64, 4>, MmaFwdConfig<64, 2, 64, 2>,
      MmaFwdConfig<64, 1, 64, 4, 4>, MmaFwdConfig<64, 1, 64, 8>, MmaFwdConfig<64, 2, 32, 4, 1, Loop::kPipelined>,
      MmaFwdConfig<64, 1, 64, 4, 1, Loop::kPipelined>, MmaFwdConfig<64, 1, 64, 4, 3, Loop::kPipelined>,
      MmaFwdConfig<64, 2, 64, 4, 3, Loop::kPlain, QFrom::kSharedMemory>,
      MmaFwdConfig<64, 2, 64, 4, 1, Loop::kPipelined, QFrom::kSharedMemory>, WgmmaFwdConfig<64, 128, 1, 3>,
      WgmmaFwdConfig<64, 128, 2>, WgmmaFwdConfig<64, 64, 2>, WgmmaFwdConfig<64, 128, 1, 1, Loop::kPipelined>,
      WgmmaFwdConfig<64, 64, 1, 3, Loop::kPipelined>, WgmmaFwdConfig<64, 128, 2, 1, Loop::kPlain, QFrom::kRegisters>,
      WgmmaFwdConfig<64, 128, 1, 1, Loop::kPipelined, QFrom::kRegisters>>;
};
template <>
struct MmaFwdVariantsFor<128> {
  using type =
      TileList<AttentionShapes<128>::Forward, MmaFwdConfig<128, 2, 32, 4>, MmaFwdConfig<128, 2, 32, 2>,
               MmaFwdConfig<128, 1, 64, 4>, MmaFwdConfig<128, 1, 64, 4, 1, Loop::kPipelined>,
               WgmmaFwdConfig<128, 64, 1>, WgmmaFwdConfig<128, 64, 2>, WgmmaFwdConfig<128, 64, 1, 1, Loop::kPipelined>,
               WgmmaFwdConfig<128, 64, 1, 1, Loop::kPipelined, QFrom::kRegisters>>;
};
template <int kD>
using MmaFwdVariants = typename MmaFwdVariantsFor<kD>::type;

// The atomic-dQ backward's variants of the dK/dV kernel with dQ. At D = 64, beyond the shipped
// mma.sync shape: one 64-key row tile, a register cap for 3 blocks per SM, 8 and 2 warps,
// FlashAttention-2's 128 x 64 tile of 8 warps, one row tile per warp with 8 warps or capped for 4
// blocks of 4 (64 keys per block: twice the dQ atomics); then the wgmma kernel (one warpgroup of 64
// keys, 64-query tiles), with K and V in registers (S^T and dP^T read only Q and dO from shared
// memory), its pipelined form (a tile's dV, dK and dQ run under the next tile's S^T and dP^T) and
// both, and blocks of two warpgroups (128 keys sharing the query tiles, dQ split by columns: half
// the query loads and dQ atomics per key) plain and with K and V in registers and pipelined (the
// shape shipped on compute capability 9.0). At D = 128: 2 and 8 warps, 16-query tiles with 4 and
// 8 warps, the wgmma kernel and two warpgroups (shipped on compute capability 9.0).
template <int kD>
struct MmaBwdVariantsFor {
  using type = TileList<typename AttentionShapes<kD>::Backward>;
};
template <>
struct MmaBwdVariantsFor<64> {
  using type =
      TileList<AttentionShapes<64>::Backward, MmaDkdvConfig<64, 1, 64, 4>, MmaDkdvConfig<64, 1, 32, 4, 3>,
               MmaDkdvConfig<64, 2, 32, 8>, MmaDkdvConfig<64, 2, 32, 2>, MmaDkdvConfig<64, 1, 64, 8>,
               MmaDkdvConfig<64, 1, 32, 8>, MmaDkdvConfig<64, 1, 32, 4, 4>, WgmmaDkdvConfig<64>,
               WgmmaDkdvConfig<64, 1, KvFrom::kRegisters>,
               WgmmaDkdvConfig<64, 1, KvFrom::kSharedMemory, Loop::kPipelined>,
               WgmmaDkdvConfig<64, 1, KvFrom::kRegisters, Loop::kPipelined>,
               WgmmaDkdvConfig<64, 1, KvFrom::kSharedMemory, Loop::kPlain, 2>, AttentionShapes<64>::BackwardSm90>;
};
template <>
struct MmaBwdVariantsFor<128> {
  using type = TileList<AttentionShapes<128>::Backward, MmaDkdvConfig<128, 1, 32, 2>, MmaDkdvConfig<128, 1, 16, 4>,
                        MmaDkdvConfig<128, 1, 32, 8>, MmaDkdvConfig<128, 1, 16, 8>, WgmmaDkdvConfig<128>,
                        AttentionShapes<128>::BackwardSm90>;
};
template <int kD>
using MmaBwdVariants = typename MmaBwdVariantsFor<kD>::type;

// Index of C in a list (-1 if absent).
template <class C, class... L>
constexpr int index_in(TileList<L...> /*list*/) {
  int i = 0, found = -1;
  ((found = found < 0 && std::is_same_v<C, L> ? i : found, ++i), ...);
  return found;
}

// Where the shipped shapes (attention_shapes.cuh) sit in the lists: the every-device forward and
// backward first, and the backward of compute capability 9.0.
template <int kD>
inline constexpr int kForwardShippedIndex = index_in<typename AttentionShapes<kD>::Forward>(MmaFwdVariants<kD>{});
template <int kD>
inline constexpr int kBackwardShippedIndex = index_in<typename AttentionShapes<kD>::Backward>(MmaBwdVariants<kD>{});
template <int kD>
inline constexpr int kBackwardSm90ShippedIndex =
    index_in<typename AttentionShapes<kD>::BackwardSm90>(MmaBwdVariants<kD>{});
static_assert(kForwardShippedIndex<32> == 0 && kForwardShippedIndex<64> == 0 && kForwardShippedIndex<128> == 0 &&
                  kBackwardShippedIndex<32> == 0 && kBackwardShippedIndex<64> == 0 && kBackwardShippedIndex<128> == 0,
              "each list starts with the shape shipped on every device");
static_assert(kBackwardSm90ShippedIndex<32> == 0 && kBackwardSm90ShippedIndex<64> > 0 &&
                  kBackwardSm90ShippedIndex<128> > 0,
              "the compute capability 9.0 backward is among the variants");

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
