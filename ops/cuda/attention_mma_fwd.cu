// Launchers of the tensor-core attention forward for bf16 and f16, head dims 32, 64 and 128.
// Kernel: ops/cuda/attention_mma_fwd.cuh.
#include "ops/cuda/attention_mma_launchers.cuh"

namespace attncamp::ops::cuda::attn {
namespace {

template <typename T, int kD>
void run(const AttentionArgs& a, cudaStream_t stream) {
  launch_mma_forward<T, MmaFwdShape<kD>>(a, stream);
}

}  // namespace

template <typename T>
void mma_forward(const AttentionArgs& a, cudaStream_t stream) {
  switch (a.head_dim) {
    case 32: run<T, 32>(a, stream); break;
    case 64: run<T, 64>(a, stream); break;
    case 128: run<T, 128>(a, stream); break;
    default: ATTNCAMP_THROW("tensor-core attention supports head dim 32, 64 or 128, got ", a.head_dim);
  }
}

template void mma_forward<__nv_bfloat16>(const AttentionArgs&, cudaStream_t);
template void mma_forward<__half>(const AttentionArgs&, cudaStream_t);

}  // namespace attncamp::ops::cuda::attn
