// Tensor-core attention backward for f16 (kernels: ops/cuda/attention_mma_bwd.cuh).
#include "ops/cuda/attention_mma_bwd_launch.cuh"

namespace attncamp::ops::cuda::attn {
template void mma_backward<__half>(const AttentionArgs&, cudaStream_t);
}  // namespace attncamp::ops::cuda::attn
