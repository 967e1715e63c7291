// Tensor-core attention backward for bf16 (kernels: ops/cuda/attention_mma_bwd.cuh).
#include "ops/cuda/attention_mma_bwd_launch.cuh"

namespace attncamp::ops::cuda::attn {
template void mma_backward<__nv_bfloat16>(const AttentionArgs&, cudaStream_t);
}  // namespace attncamp::ops::cuda::attn
