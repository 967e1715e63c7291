// Host side of the attention tuning lab (ops/attention_lab.h) that needs no CUDA: this thread's
// variant choice, the autotuner's switch, and what builds without CUDA answer. The rest is in
// ops/cuda/attention.cu, attention_autotune.cu and attention_mma_wgmma_probe.cu.
#include "ops/attention_lab.h"

#include <string>
#include <utility>
#include <vector>

#include "runtime/env.h"
#include "runtime/error.h"

namespace attncamp::ops {
namespace {

thread_local AttentionVariants t_variants;

}  // namespace

ScopedAttentionVariants::ScopedAttentionVariants(AttentionVariants variants) : previous_(t_variants) {
  t_variants = variants;
}

ScopedAttentionVariants::~ScopedAttentionVariants() { t_variants = previous_; }

AttentionVariants current_attention_variants() { return t_variants; }

bool attention_autotune_enabled() {
  const bool deterministic = env::flag(env::kDeterministic);
  return env::flag(env::kAttentionAutotune) && !deterministic;
}

#ifndef ATTNCAMP_WITH_CUDA
std::vector<std::string> attention_mma_variants(AttentionPass /*pass*/, DType /*dtype*/, int64_t /*head_dim*/) {
  ATTNCAMP_THROW("attention_mma_variants: attncamp was built without CUDA (no tensor-core kernels)");
}

int attention_mma_default_variant(AttentionPass /*pass*/, DType /*dtype*/, int64_t /*head_dim*/,
                                  bool /*wgmma_device*/) {
  ATTNCAMP_THROW("attention_mma_default_variant: attncamp was built without CUDA (no tensor-core kernels)");
}

bool attention_wgmma_runs_on(int /*device*/) { return false; }

std::vector<std::string> attention_autotune_report() { return {}; }

std::vector<std::pair<std::string, double>> attention_wgmma_probe() {
  ATTNCAMP_THROW("attention_wgmma_probe: attncamp was built without CUDA (no wgmma kernels)");
}
#endif

}  // namespace attncamp::ops
