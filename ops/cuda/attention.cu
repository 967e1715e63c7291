// CUDA attention entry points: check what the kernels assume about sizes, then run the kernel
// family the caller resolved (ops::resolve_attention_impl) on the current stream, the tensor-core
// kernels with their shipped tile shapes unless the tuning lab picks a variant (a caller's index
// or the autotuner's choice). The backward first computes delta = rowsum(dout * out) into the
// caller's workspace. Also the lab's host functions of ops/attention_lab.h that need CUDA.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <string>
#include <vector>

#include "ops/attention.h"
#include "ops/attention_lab.h"
#include "ops/cuda/attention_args.h"
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
void on_16bit(DType dtype, Fn16 fn) {
  switch (dtype) {
    case DType::kBF16: fn(__nv_bfloat16{}); break;
    case DType::kF16: fn(__half{}); break;
    default: ATTNCAMP_THROW("tensor-core attention needs bf16 or f16, got ", dtype_name(dtype));
  }
}

// The lab's variant of `pass` a call runs, if any: the caller's index, else the autotuner's pick
// (attention_autotune.cu; never for a pass with one shape). -1: the shipped shape.
int lab_variant(AttentionPass pass, const AttentionArgs& a, cudaStream_t stream,
                const std::vector<attn::MmaVariant>& (*variants_of)(int64_t)) {
  const bool fwd = pass == AttentionPass::kForward;
  const int index = fwd ? a.forward_variant : a.backward_variant;
  if (index < 0 && !a.autotune) return -1;
  const std::vector<attn::MmaVariant>& variants = variants_of(a.head_dim);
  if (index >= 0) {
    ATTNCAMP_CHECK(static_cast<size_t>(index) < variants.size(), "attention ", fwd ? "forward" : "backward",
                   " variant ", index, " is out of range: ", dtype_name(a.dtype), " head dim ", a.head_dim, " has ",
                   variants.size(), " tensor-core ", fwd ? "forward" : "backward",
                   " shapes (ops::attention_mma_variants)");
    return index;
  }
  return variants.size() > 1 ? attn::autotuned_variant(pass, a, variants, stream) : -1;
}

template <typename T>
void mma_forward(const AttentionArgs& a, cudaStream_t stream) {
  const int variant = lab_variant(AttentionPass::kForward, a, stream, &attn::mma_forward_variants<T>);
  if (variant < 0) {
    attn::mma_forward_shipped<T>(a, stream);
  } else {
    attn::mma_forward_variants<T>(a.head_dim)[static_cast<size_t>(variant)].launch(a, stream);
  }
}

// The atomic-dQ backward when a.dq_accum is set (and there are queries: without them dk and dv
// are 0, which the deterministic dK/dV kernel writes), else the deterministic one.
template <typename T>
void mma_backward(const AttentionArgs& a, cudaStream_t stream) {
  if (a.dq_accum == nullptr || a.seq_q == 0) {
    attn::mma_backward_deterministic<T>(a, stream);
    return;
  }
  const int variant = lab_variant(AttentionPass::kBackward, a, stream, &attn::mma_backward_variants<T>);
  if (variant < 0) {
    attn::mma_backward_shipped<T>(a, stream);
  } else {
    attn::mma_backward_variants<T>(a.head_dim)[static_cast<size_t>(variant)].launch(a, stream);
  }
}

}  // namespace

void attention_forward(const AttentionArgs& a) {
  if (a.batch == 0 || a.heads == 0 || a.seq_q == 0) return;
  check_launchable(a);
  cudaStream_t stream = attncamp::cuda::launch_stream(a.device);
  if (a.impl == AttentionImpl::kMma) {
    on_16bit(a.dtype, [&](auto tag) { mma_forward<decltype(tag)>(a, stream); });
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
    on_16bit(a.dtype, [&](auto tag) { mma_backward<decltype(tag)>(a, stream); });
  } else {
    attn::simple_backward(a, stream);
  }
}

}  // namespace attncamp::ops::cuda

namespace attncamp::ops {

std::vector<std::string> attention_mma_variants(AttentionPass pass, DType dtype, int64_t head_dim) {
  const std::vector<cuda::attn::MmaVariant>* variants = nullptr;
  const bool fwd = pass == AttentionPass::kForward;
  cuda::on_16bit(dtype, [&](auto tag) {
    using T = decltype(tag);
    variants = fwd ? &cuda::attn::mma_forward_variants<T>(head_dim) : &cuda::attn::mma_backward_variants<T>(head_dim);
  });
  std::vector<std::string> names;
  for (const cuda::attn::MmaVariant& v : *variants) names.push_back(v.name);
  return names;
}

int attention_mma_default_variant(AttentionPass pass, DType dtype, int64_t head_dim, bool wgmma_device) {
  cuda::on_16bit(dtype, [](auto /*tag*/) {});  // the same dtype check as attention_mma_variants
  return cuda::attn::mma_default_variant(pass, head_dim, wgmma_device);
}

bool attention_wgmma_runs_on(int device) { return cuda::attn::wgmma_runs_on(device); }

}  // namespace attncamp::ops
