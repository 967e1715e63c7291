// CPU proposal matching and the tensor-level API (CUDA tensors go to ops/cuda/matching.cu): the
// largest quality of each ground truth (a row pass), then one pass per proposal down its column
// for its best ground truth, its class (matched, ignored, background) and whether it ties some
// ground truth's best (OpenMP over proposals, no reductions across threads).
#include "ops/matching.h"

#include <cmath>
#include <vector>

#include "ops/dispatch.h"

namespace attncamp::ops {
namespace cpu {

template <class T>
void match_proposals(const MatchParams<T>& p, int64_t* matches) {
  const int64_t G = p.gts, P = p.proposals;
  // highest[g]: the largest non-NaN quality of ground truth g (NaN when it has none).
  std::vector<T> highest(static_cast<size_t>(G), std::nan(""));
  if (p.allow_low_quality_matches) {
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < G; ++g) {
      const T* row = p.iou + g * P;
      T h = std::nan("");
      for (int64_t j = 0; j < P; ++j) {
        if (row[j] == row[j] && !(row[j] <= h)) h = row[j];  // h NaN: the first number
      }
      highest[g] = h;
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < P; ++j) {
    int64_t best = -1;
    T best_value = 0;
    bool ties_a_highest = false;
    for (int64_t g = 0; g < G; ++g) {
      const T v = p.iou[g * P + j];
      if (v == v && (best < 0 || v > best_value)) {
        best = g;
        best_value = v;
      }
      ties_a_highest |= v == highest[g];
    }
    int64_t m = best;
    if (best < 0 || best_value < p.low) {
      m = kMatchBackground;
    } else if (best_value < p.high) {
      m = kMatchIgnored;
    }
    matches[j] = p.allow_low_quality_matches && ties_a_highest ? best : m;
  }
}

template void match_proposals<float>(const MatchParams<float>&, int64_t*);
template void match_proposals<double>(const MatchParams<double>&, int64_t*);

}  // namespace cpu

void match_proposals(const Tensor& iou, const MatcherOptions& options, Tensor& matches) {
  const char* op = "match_proposals";
  const bool cuda = on_cuda(op, {&iou, &matches});
  check_arg(op, "iou", iou, cuda ? DTypeSet{DType::kF32} : kCpuFloat);
  check_dim(op, "iou", iou, 2, "[G,P]");
  const int64_t G = iou.size(0), P = iou.size(1);
  check_exact(op, "matches", matches, {P}, DType::kI64);
  ATTNCAMP_CHECK(options.low_threshold <= options.high_threshold, op,
                 ": options.low_threshold must be <= options.high_threshold (", options.high_threshold, "); got ",
                 options.low_threshold);
  if (P == 0) return;
  if (cuda) {
    ATTNCAMP_CHECK(G <= kMaxMatchGtsCuda, op, ": iou on CUDA must have at most ", kMaxMatchGtsCuda,
                   " ground-truth rows; got ", G);
#ifdef ATTNCAMP_WITH_CUDA
    cuda::MatchArgs a;
    a.gts = G;
    a.proposals = P;
    a.iou = iou.data<float>();
    a.high = static_cast<float>(options.high_threshold);
    a.low = static_cast<float>(options.low_threshold);
    a.allow_low_quality_matches = options.allow_low_quality_matches;
    a.matches = matches.data<int64_t>();
    a.device = iou.device().index;
    cuda::match_proposals(a);
#endif
    return;
  }
  dispatch_float(iou.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::MatchParams<T> p;
    p.gts = G;
    p.proposals = P;
    p.iou = iou.data<T>();
    p.high = static_cast<T>(options.high_threshold);
    p.low = static_cast<T>(options.low_threshold);
    p.allow_low_quality_matches = options.allow_low_quality_matches;
    cpu::match_proposals(p, matches.data<int64_t>());
  });
}

}  // namespace attncamp::ops
