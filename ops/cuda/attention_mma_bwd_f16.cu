// Tensor-core attention backward launchers for f16: the atomic-dQ backward's tile-shape variants
// and the deterministic backward (kernels: ops/cuda/attention_mma_bwd.cuh, attention_wgmma_bwd.cuh; variants:
// attention_mma_variants.cuh).
#include "ops/cuda/attention_mma_variants.cuh"

namespace attncamp::ops::cuda::attn {
template const std::vector<MmaVariant>& mma_backward_variants<__half>(int64_t);
template void mma_backward_deterministic<__half>(const AttentionArgs&, cudaStream_t);
}  // namespace attncamp::ops::cuda::attn
