// The tensor-core attention's default variants (attention_variants.cuh): the list's first, or on
// devices that run the wgmma kernels the backward's kMmaBwdSm90Default. Compiled for sm_90a with
// the other attention_mma_*.cu (ops/CMakeLists.txt), which is what tells whether this build holds
// the wgmma kernels.
#include <atomic>

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
  static constexpr int kSm90Defaults[3] = {kMmaBwdSm90Default<32>, kMmaBwdSm90Default<64>, kMmaBwdSm90Default<128>};
  const int sm90_default = for_head_dim(kSm90Defaults, head_dim);  // checks the head dim
#ifndef ATTNCAMP_WGMMA_SM90A
  wgmma = false;  // no wgmma kernel in this build
#endif
  return pass == AttentionPass::kBackward && wgmma ? sm90_default : 0;
}

}  // namespace attncamp::ops::cuda::attn
