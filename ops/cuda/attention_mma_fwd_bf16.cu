// Tensor-core attention forward launchers for bf16, every tile-shape variant (kernels:
// ops/cuda/attention_mma_fwd.cuh; variants: attention_mma_variants.cuh).
#include "ops/cuda/attention_mma_variants.cuh"

namespace attncamp::ops::cuda::attn {
template const std::vector<MmaVariant>& mma_forward_variants<__nv_bfloat16>(int64_t);
}  // namespace attncamp::ops::cuda::attn
