// Launcher of the tensor-core attention backward for one 16-bit type: the dK/dV kernel summing
// dQ with atomics when a.dq_accum is set, else the dK/dV kernel then the dQ kernel;
// ops/cuda/attention_mma_bwd_{bf16,f16}.cu instantiate it, one type per translation unit.
#pragma once

#include "ops/cuda/attention_mma_launchers.cuh"

namespace attncamp::ops::cuda::attn {

template <typename T, int kD>
void run_mma_backward(const AttentionArgs& a, cudaStream_t stream) {
  if (a.dq_accum != nullptr && a.seq_q > 0) {  // without queries dk, dv are 0: the plain kernel writes them
    launch_mma_backward_atomic_dq<T, typename MmaBwdShape<kD>::Dkdvq>(a, stream);
    return;
  }
  if (a.seq_k > 0) launch_mma_dkdv<T, typename MmaBwdShape<kD>::Dkdv>(a, stream);
  if (a.seq_q > 0) launch_mma_dq<T, typename MmaBwdShape<kD>::Dq>(a, stream);
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
