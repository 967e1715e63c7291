// The tile-shape variants of the tensor-core attention kernels as host launchers (CUDA translation
// units only): for each head dim, the forward's MmaFwdVariants and the atomic-dQ backward's
// MmaBwdVariants, named and indexed as AttentionOptions::forward_variant / backward_variant and
// the autotuner see them, and the deterministic backward (one shape). Instantiated one type per
// translation unit: ops/cuda/attention_mma_{fwd,bwd}_{bf16,f16}.cu.
#pragma once

#include <string>
#include <vector>

#include "ops/cuda/attention_mma_launchers.cuh"

namespace attncamp::ops::cuda::attn {

template <typename T, class... C>
std::vector<MmaVariant> forward_variant_list(TileList<C...> /*shapes*/) {
  return {MmaVariant{forward_shape_name<C>(), &launch_mma_forward<T, C>}...};
}
template <typename T, class... C>
std::vector<MmaVariant> backward_variant_list(TileList<C...> /*shapes*/) {
  return {MmaVariant{dkdv_shape_name<C>(), &launch_mma_backward_atomic_dq<T, C>}...};
}

// The entry of lists[0..2] (head dims 32, 64, 128) for head_dim.
template <class E>
const E& for_head_dim(const E (&lists)[3], int64_t head_dim) {
  ATTNCAMP_CHECK(head_dim == 32 || head_dim == 64 || head_dim == 128,
                 "tensor-core attention supports head dim 32, 64 or 128, got ", head_dim);
  return lists[head_dim == 32 ? 0 : head_dim == 64 ? 1 : 2];
}

template <typename T>
const std::vector<MmaVariant>& mma_forward_variants(int64_t head_dim) {
  static const std::vector<MmaVariant> lists[3] = {forward_variant_list<T>(MmaFwdVariants<32>{}),
                                                   forward_variant_list<T>(MmaFwdVariants<64>{}),
                                                   forward_variant_list<T>(MmaFwdVariants<128>{})};
  return for_head_dim(lists, head_dim);
}

template <typename T>
const std::vector<MmaVariant>& mma_backward_variants(int64_t head_dim) {
  static const std::vector<MmaVariant> lists[3] = {backward_variant_list<T>(MmaBwdVariants<32>{}),
                                                   backward_variant_list<T>(MmaBwdVariants<64>{}),
                                                   backward_variant_list<T>(MmaBwdVariants<128>{})};
  return for_head_dim(lists, head_dim);
}

template <typename T, int kD>
void run_mma_backward_deterministic(const AttentionArgs& a, cudaStream_t stream) {
  if (a.seq_k > 0) launch_mma_dkdv<T, typename MmaBwdShape<kD>::Dkdv>(a, stream);
  if (a.seq_q > 0) launch_mma_dq<T, typename MmaBwdShape<kD>::Dq>(a, stream);
}

template <typename T>
void mma_backward_deterministic(const AttentionArgs& a, cudaStream_t stream) {
  switch (a.head_dim) {
    case 32: run_mma_backward_deterministic<T, 32>(a, stream); break;
    case 64: run_mma_backward_deterministic<T, 64>(a, stream); break;
    case 128: run_mma_backward_deterministic<T, 128>(a, stream); break;
    default: ATTNCAMP_THROW("tensor-core attention supports head dim 32, 64 or 128, got ", a.head_dim);
  }
}

}  // namespace attncamp::ops::cuda::attn
