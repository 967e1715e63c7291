// The tile shapes the tensor-core attention launchers ship, by name: one per head dim (32, 64, 128)
// and case (the forward; the atomic-dQ backward on devices with and without the wgmma kernels; the
// deterministic backward's two kernels). attention_mma_launchers.cuh launches them; the tuning lab
// (attention_variants.cuh) lists each beside its candidates. docs/gpu.md, "Attention tile shapes",
// says how a candidate replaces one of these; benchmarks/RESULTS.md has the measurements.
#pragma once

#include "ops/cuda/attention_mma_bwd.cuh"
#include "ops/cuda/attention_mma_fwd.cuh"
#include "ops/cuda/attention_wgmma_bwd.cuh"

namespace attncamp::ops::cuda::attn {

// The shapes for head dim kD:
//   Forward            the forward (MmaFwdConfig), every device;
//   Backward           the atomic-dQ backward's dK/dV kernel with dQ, on devices that do not run
//                      the wgmma kernels;
//   BackwardSm90       the same on devices that do (compute capability 9.0 in builds with sm_90a
//                      code: wgmma_runs_on);
//   DeterministicDkdv  the deterministic backward's dK/dV kernel (without dQ), and
//   DeterministicDq    its dQ kernel.
template <int kD>
struct AttentionShapes;

template <>
struct AttentionShapes<32> {
  using Forward = MmaFwdConfig<32, 2, 64, 4>;
  using Backward = MmaDkdvConfig<32, 2, 32, 4>;
  using BackwardSm90 = Backward;  // no wgmma kernel at head dim 32
  using DeterministicDkdv = Backward;
  using DeterministicDq = MmaDqConfig<32, 1, 64, 4, 3>;  // registers capped: a third block per SM
};

template <>
struct AttentionShapes<64> {
  // FlashAttention-2's 128 x 128 tile: 4 warps of two 16-query row tiles, 128-key tiles, Q read
  // from shared memory for each key tile (its registers pay for the larger key tile).
  using Forward = MmaFwdConfig<64, 2, 128, 4, 1, Loop::kPlain, QFrom::kSharedMemory>;
  using Backward = MmaDkdvConfig<64, 2, 32, 4>;
  // Two warpgroups of 64 keys sharing each 64-query tile (half the query loads and dQ atomics per
  // key), K and V in registers, the pipelined loop.
  using BackwardSm90 = WgmmaDkdvConfig<64, 1, KvFrom::kRegisters, Loop::kPipelined, 2>;
  using DeterministicDkdv = Backward;
  using DeterministicDq = MmaDqConfig<64, 1, 64, 4, 3>;  // registers capped: a third block per SM
};

template <>
struct AttentionShapes<128> {
  using Forward = MmaFwdConfig<128, 2, 32, 4, 1, Loop::kPlain, QFrom::kSharedMemory>;
  using Backward = MmaDkdvConfig<128, 1, 32, 4>;
  using BackwardSm90 = WgmmaDkdvConfig<128, 1, KvFrom::kSharedMemory, Loop::kPlain, 2>;
  using DeterministicDkdv = Backward;
  using DeterministicDq = MmaDqConfig<128, 1, 64, 4>;  // a register cap would spill here
};

}  // namespace attncamp::ops::cuda::attn
