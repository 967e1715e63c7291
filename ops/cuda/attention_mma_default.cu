// The tensor-core attention's default variants (attention_variants.cuh): the list's first, or on
// devices that run the wgmma kernels the backward's kMmaBwdSm90Default. Compiled for sm_90a with
// the other attention_mma_*.cu (ops/CMakeLists.txt), which is what tells whether this build holds
// the wgmma kernels.
#include <atomic>

#include "ops/cuda/attention_launch.cuh"
#include "ops/cuda/attention_variants.cuh"
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
  int major = 0, minor = 0;
  ATTNCAMP_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  ATTNCAMP_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  const bool runs = major == 9 && minor == 0;
  if (cached) known[device].store(runs ? 2 : 1);
  return runs;
#endif
}

int mma_default_variant(AttentionPass pass, int64_t head_dim, bool wgmma) {
  ATTNCAMP_CHECK(head_dim == 32 || head_dim == 64 || head_dim == 128,
                 "tensor-core attention supports head dim 32, 64 or 128, got ", head_dim);
#ifndef ATTNCAMP_WGMMA_SM90A
  wgmma = false;  // no wgmma kernel in this build
#endif
  if (pass == AttentionPass::kForward || !wgmma) return 0;
  return head_dim == 32 ? kMmaBwdSm90Default<32> : head_dim == 64 ? kMmaBwdSm90Default<64> : kMmaBwdSm90Default<128>;
}

}  // namespace attncamp::ops::cuda::attn
