// Per-call facts layers need in forward: training or evaluation, and the
// (seed, step) that fixes dropout masks so reruns and resumes are bit-exact.
#pragma once

#include <cstdint>

namespace attncamp::models {

struct ForwardContext {
  bool training = false;
  uint64_t seed = 0;
  int64_t step = 0;
};

// Dropout sites of one model (handed out by ParamStore::add_dropout_site).
constexpr int kMaxDropoutSites = 256;

// Philox counter offset of dropout site `site` at `step`: sites and steps never overlap
// (up to 2^28 elements per site, kMaxDropoutSites sites, 2^28 steps).
inline uint64_t dropout_offset(int64_t step, int site) {
  return (static_cast<uint64_t>(step) << 36) | (static_cast<uint64_t>(site) << 28);
}

}  // namespace attncamp::models
