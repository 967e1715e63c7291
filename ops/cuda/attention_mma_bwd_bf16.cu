// Tensor-core attention backward launchers for bf16: the shipped tile shapes of the atomic-dQ and
// the deterministic backward (attention_shapes.cuh) and the tuning lab's atomic-dQ variants
// (attention_mma_variants.cuh); kernels: ops/cuda/attention_mma_bwd.cuh, attention_wgmma_bwd.cuh.
#include "ops/cuda/attention_mma_variants.cuh"

namespace attncamp::ops::cuda::attn {
template void mma_backward_shipped<__nv_bfloat16>(const AttentionArgs&, cudaStream_t);
template void mma_backward_deterministic<__nv_bfloat16>(const AttentionArgs&, cudaStream_t);
template const std::vector<MmaVariant>& mma_backward_variants<__nv_bfloat16>(int64_t);
}  // namespace attncamp::ops::cuda::attn
