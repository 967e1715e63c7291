// Balanced positive/negative sampling of matched proposals (torchvision's
// BalancedPositiveNegativeSampler): per image, up to batch_size_per_image * positive_fraction
// positives and the rest of the batch from the negatives, each drawn uniformly without
// replacement. The draw is counter-based: every candidate gets a 64-bit Philox key from (seed,
// step, image, candidate index) (runtime/rng.h) and the smallest keys are taken, so every rank and
// every device draws the same sample, and the CPU and CUDA results are identical.
#pragma once

#include <cstdint>
#include <utility>

#include "runtime/rng.h"
#include "runtime/tensor.h"

namespace attncamp::ops {

struct SamplerOptions {
  int64_t batch_size_per_image = 512;  // torchvision: 256 for the RPN, 512 for the RoI heads
  double positive_fraction = 0.25;     // torchvision: 0.5 for the RPN, 0.25 for the RoI heads
};

// What the draw depends on: the run's seed, the training step and the image's index in the global
// batch (not the rank's), so a sample does not depend on how the batch is split.
struct SampleKey {
  uint64_t seed = 0, step = 0, image = 0;
};

// Sampled candidates: indices into the labels, ascending (as torch.where lists a mask).
struct BalancedSample {
  Tensor positive;  // i64 [Kp]
  Tensor negative;  // i64 [Kn]
};

// labels [P] (i32 or i64, contiguous; CPU or CUDA): >= 1 positive, 0 negative, < 0 ignored, as
// torchvision's sampler reads them (from match_proposals' matches m: 1 for m >= 0, 0 for
// kMatchBackground, -1 for kMatchIgnored; or the matched class, 0 and -1). Takes
// Kp = min(#positive, floor(batch_size_per_image * positive_fraction)) positives and
// Kn = min(#negative, batch_size_per_image - Kp) negatives: those with the smallest keys
// (sampler_key below), equal keys by lower index. Returns new contiguous i64 tensors on the labels'
// device; on CUDA only Kp and Kn (16 bytes) are copied to the host.
BalancedSample balanced_sample(const Tensor& labels, const SamplerOptions& options, const SampleKey& key);

// The Philox stream of the per-step seeds ("SAMPLE"; runtime/rng.h's RngStream values are small).
inline constexpr uint64_t kSamplerRngStream = 0x53414D504C45;

// The draw's keys. Philox4x32-10 keyed by the seed draws a 64-bit seed per step (stream
// kSamplerRngStream, counter step); keyed by that, the block at (stream image, counter index)
// gives candidate `index` its key: the top 62 bits of its first two words (62, so that a sort key
// can hold the candidate's kind in the top two bits).
inline uint64_t sampler_step_seed(uint64_t seed, uint64_t step) {
  const Philox4 r = philox4x32(seed, kSamplerRngStream, step);
  return static_cast<uint64_t>(r.v[0]) | static_cast<uint64_t>(r.v[1]) << 32;
}
ATTNCAMP_HD uint64_t sampler_candidate_key(uint64_t step_seed, uint64_t image, uint64_t index) {
  const Philox4 r = philox4x32(step_seed, image, index);
  return (static_cast<uint64_t>(r.v[0]) | static_cast<uint64_t>(r.v[1]) << 32) >> 2;
}
inline uint64_t sampler_key(const SampleKey& key, uint64_t index) {
  return sampler_candidate_key(sampler_step_seed(key.seed, key.step), key.image, index);
}

namespace cpu {
template <class L>
struct SampleParams {
  int64_t candidates = 0;
  const L* labels = nullptr;  // [candidates]
  int64_t max_positive = 0;   // floor(batch_size_per_image * positive_fraction)
  int64_t batch = 0;          // batch_size_per_image
  SampleKey key;
};
// Writes the sampled positives to positive[0, Kp) and negatives to negative[0, Kn) (room for
// `candidates` each), ascending; returns {Kp, Kn}.
template <class L>
std::pair<int64_t, int64_t> balanced_sample(const SampleParams<L>& p, int64_t* positive, int64_t* negative);
}  // namespace cpu

// CUDA launcher (ops/cuda/matching_sampler.cu), queued on the calling thread's current stream of
// `device`; waits for the two counts only.
namespace cuda {
struct SampleArgs {
  int64_t candidates = 0;
  const void* labels = nullptr;  // [candidates]
  bool labels_i32 = false;       // else i64
  int64_t max_positive = 0, batch = 0;
  SampleKey key;
  int device = 0;
};
BalancedSample balanced_sample(const SampleArgs& a);
}  // namespace cuda

}  // namespace attncamp::ops
