// CUDA attention entry points: check what the kernels assume about sizes, then run the kernel
// family the caller resolved (ops::resolve_attention_impl) on the current stream. The backward
// first computes delta = rowsum(dout * out) into the caller's workspace.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>

#include "ops/attention.h"
#include "ops/cuda/attention_launch.cuh"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

// Sizes the kernels index with 32-bit rows and grid y/z dimensions.
void check_launchable(const AttentionArgs& a) {
  ATTNCAMP_CHECK(a.seq_q < INT_MAX / 2 && a.seq_k < INT_MAX / 2, "attention sequence lengths must be below ",
                 INT_MAX / 2, " on CUDA, got ", a.seq_q, " and ", a.seq_k);
  ATTNCAMP_CHECK(a.heads <= 65535 && a.batch <= 65535,
                 "attention on CUDA supports at most 65535 heads and batch rows, got ", a.heads, " heads, batch ",
                 a.batch);
  ATTNCAMP_CHECK(a.impl == AttentionImpl::kSimple || a.impl == AttentionImpl::kMma,
                 "attention CUDA launch needs a resolved kernel family (simple or mma)");
}

template <typename Fn16>
void on_16bit(const AttentionArgs& a, Fn16 fn) {
  switch (a.dtype) {
    case DType::kBF16: fn(__nv_bfloat16{}); break;
    case DType::kF16: fn(__half{}); break;
    default: ATTNCAMP_THROW("tensor-core attention needs bf16 or f16, got ", dtype_name(a.dtype));
  }
}

}  // namespace

void attention_forward(const AttentionArgs& a) {
  if (a.batch == 0 || a.heads == 0 || a.seq_q == 0) return;
  check_launchable(a);
  cudaStream_t stream = attncamp::cuda::launch_stream(a.device);
  if (a.impl == AttentionImpl::kMma) {
    on_16bit(a, [&](auto tag) { attn::mma_forward<decltype(tag)>(a, stream); });
  } else {
    attn::simple_forward(a, stream);
  }
}

void attention_backward(const AttentionArgs& a) {
  if (a.batch == 0 || a.heads == 0 || (a.seq_q == 0 && a.seq_k == 0)) return;
  check_launchable(a);
  cudaStream_t stream = attncamp::cuda::launch_stream(a.device);
  attn::launch_delta(a, stream);
  if (a.impl == AttentionImpl::kMma) {
    on_16bit(a, [&](auto tag) { attn::mma_backward<decltype(tag)>(a, stream); });
  } else {
    attn::simple_backward(a, stream);
  }
}

}  // namespace attncamp::ops::cuda
