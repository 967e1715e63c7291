// Tensor-core attention forward launchers for f16: the shipped tile shapes
// (attention_shapes.cuh) and the tuning lab's variants (attention_mma_variants.cuh); kernels:
// ops/cuda/attention_mma_fwd.cuh, attention_wgmma_fwd.cuh.
#include "ops/cuda/attention_mma_variants.cuh"

namespace attncamp::ops::cuda::attn {
template void mma_forward_shipped<__half>(const AttentionArgs&, cudaStream_t);
template const std::vector<MmaVariant>& mma_forward_variants<__half>(int64_t);
}  // namespace attncamp::ops::cuda::attn
