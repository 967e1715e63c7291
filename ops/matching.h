// Proposal-to-ground-truth matching as torchvision's Matcher (models/detection/_utils.py) does it:
// each proposal takes the ground-truth box it overlaps most, unless that quality is below
// `low_threshold` (background) or below `high_threshold` (ignored); with low-quality matches
// allowed, every proposal tied for some ground truth's best quality gets its own best ground
// truth back even when below the thresholds. Deterministic; the CPU and CUDA results are equal.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// Match values besides ground-truth indices (torchvision's Matcher.BELOW_LOW_THRESHOLD and
// BETWEEN_THRESHOLDS).
inline constexpr int64_t kMatchBackground = -1;
inline constexpr int64_t kMatchIgnored = -2;

struct MatcherOptions {
  double high_threshold = 0.7;  // quality >= high: matched (torchvision's RPN: 0.7, RoI heads: 0.5)
  double low_threshold = 0.3;   // quality < low: background; in between: ignored (RoI heads: 0.5)
  bool allow_low_quality_matches = false;
};

// iou [G, P]: the quality (IoU) of ground truth g and proposal p, contiguous; CPU f32 or f64,
// CUDA f32. matches: i64 [P] on the same device, overwritten with, for each proposal p:
//   best(p)  = the first g with the largest iou[g, p] (NaN entries are skipped);
//   matches  = -1 (kMatchBackground) when iou[best, p] < low or p has no non-NaN entry,
//              -2 (kMatchIgnored) when low <= iou[best, p] < high, else best(p);
//   with allow_low_quality_matches, matches[p] = best(p) for every p with iou[g, p] equal to the
//   largest non-NaN iou[g, :] of some g (torchvision: all ties, and a ground truth that overlaps
//   nothing makes every proposal at 0 a tie).
// The thresholds are rounded to iou's dtype, as torch compares an f32 tensor with a Python float.
// G = 0 (no ground truth): every proposal is background. NaN never matches (torch.max would rank
// NaN highest). Requires low_threshold <= high_threshold.
void match_proposals(const Tensor& iou, const MatcherOptions& options, Tensor& matches);

namespace cpu {
template <class T>
struct MatchParams {
  int64_t gts = 0, proposals = 0;
  const T* iou = nullptr;  // [gts, proposals]
  T high = 0, low = 0;     // thresholds in T
  bool allow_low_quality_matches = false;
};
template <class T>
void match_proposals(const MatchParams<T>& p, int64_t* matches);
}  // namespace cpu

// Most ground-truth boxes (rows of iou) a CUDA match takes: one grid row each.
inline constexpr int64_t kMaxMatchGtsCuda = 65535;

// CUDA launcher (ops/cuda/matching.cu), queued on the calling thread's current stream of `device`.
namespace cuda {
struct MatchArgs {
  int64_t gts = 0, proposals = 0;
  const float* iou = nullptr;  // [gts, proposals]
  float high = 0, low = 0;
  bool allow_low_quality_matches = false;
  int64_t* matches = nullptr;  // [proposals]
  int device = 0;
};
void match_proposals(const MatchArgs& a);
}  // namespace cuda

}  // namespace attncamp::ops
