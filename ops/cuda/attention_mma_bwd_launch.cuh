// Launcher of the tensor-core attention backward (dK/dV kernel, then dQ kernel) for one 16-bit
// type; ops/cuda/attention_mma_bwd_{bf16,f16}.cu instantiate it, one type per translation unit.
#pragma once

#include "ops/cuda/attention_launch.cuh"
#include "ops/cuda/attention_mma_bwd.cuh"

namespace attncamp::ops::cuda::attn {

template <typename T, int kD>
void run_mma_backward(const AttentionArgs& a, cudaStream_t stream) {
  using Shape = MmaBwdShape<kD>;
  if (a.seq_k > 0) {
    allow_smem(mma_dkdv_kernel<T, kD>, Shape::kDkdvSmemBytes);
    mma_dkdv_kernel<T, kD>
        <<<attention_grid(a.seq_k, Shape::kKeys, a), Shape::kThreads, Shape::kDkdvSmemBytes, stream>>>(a);
    ATTNCAMP_CUDA_LAUNCH_CHECK();
  }
  if (a.seq_q > 0) {
    allow_smem(mma_dq_kernel<T, kD>, Shape::kDqSmemBytes);
    mma_dq_kernel<T, kD><<<attention_grid(a.seq_q, Shape::kRows, a), Shape::kThreads, Shape::kDqSmemBytes, stream>>>(a);
    ATTNCAMP_CUDA_LAUNCH_CHECK();
  }
}

template <typename T>
void mma_backward(const AttentionArgs& a, cudaStream_t stream) {
  switch (a.head_dim) {
    case 32: run_mma_backward<T, 32>(a, stream); break;
    case 64: run_mma_backward<T, 64>(a, stream); break;
    case 128: run_mma_backward<T, 128>(a, stream); break;
    default: ATTNCAMP_THROW("tensor-core attention supports head dim 32, 64 or 128, got ", a.head_dim);
  }
}

}  // namespace attncamp::ops::cuda::attn
