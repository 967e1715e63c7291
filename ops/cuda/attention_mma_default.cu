// Which device class a call's shipped shapes are for (attention_shapes.cuh): whether a device runs
// the wgmma kernels, and where the shipped shapes sit among the tuning lab's variants
// (attention_variants.cuh). Compiled for sm_90a with the translation units that hold the wgmma
// kernels (ATTNCAMP_OPS_SM90A_SRC, ops/CMakeLists.txt), which is what tells whether this build
// holds them.
#include <atomic>

#include "ops/cuda/attention_launch.cuh"
#include "ops/cuda/attention_mma_variants.cuh"
#include "runtime/cuda/check.h"

namespace attncamp::ops::cuda::attn {

bool wgmma_runs_on(int device) {
#ifndef ATTNCAMP_WGMMA_SM90A
  (void)device;
  return false;
#else
  // Per device: 0 not yet asked, 1 no, 2 yes (the attribute queries cost more than the lookup).
  static std::atomic<int> known[64];
  const bool cached = device >= 0 && device < 64;
  if (cached && known[device].load() != 0) return known[device].load() == 2;
  const bool runs = compute_capability(device) == 90;
  if (cached) known[device].store(runs ? 2 : 1);
  return runs;
#endif
}

int mma_default_variant(AttentionPass pass, int64_t head_dim, bool wgmma) {
  static constexpr int kForward[3] = {kForwardShippedIndex<32>, kForwardShippedIndex<64>, kForwardShippedIndex<128>};
  static constexpr int kBackward[3] = {kBackwardShippedIndex<32>, kBackwardShippedIndex<64>,
                                       kBackwardShippedIndex<128>};
  static constexpr int kBackwardSm90[3] = {kBackwardSm90ShippedIndex<32>, kBackwardSm90ShippedIndex<64>,
                                           kBackwardSm90ShippedIndex<128>};
#ifndef ATTNCAMP_WGMMA_SM90A
  wgmma = false;  // no wgmma kernel in this build
#endif
  if (pass == AttentionPass::kForward) return for_head_dim(kForward, head_dim);  // checks the head dim
  return for_head_dim(wgmma ? kBackwardSm90 : kBackward, head_dim);
}

}  // namespace attncamp::ops::cuda::attn
