// The tuning lab's tile-shape variants of the tensor-core attention kernels as host launchers (CUDA
// translation units only): for each head dim, the forward's MmaFwdVariants and the atomic-dQ
// backward's MmaBwdVariants (attention_variants.cuh), named and indexed as ScopedAttentionVariants
// (ops/attention_lab.h) and the autotuner see them. Instantiated one type per translation unit,
// beside the shipped shapes' launchers: ops/cuda/attention_mma_{fwd,bwd}_{bf16,f16}.cu.
#pragma once

#include <string>
#include <vector>

#include "ops/cuda/attention_mma_launchers.cuh"
#include "ops/cuda/attention_variants.cuh"

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

}  // namespace attncamp::ops::cuda::attn
