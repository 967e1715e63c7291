// COCO bbox evaluation (data/coco_eval.h): annotations and detections are grouped into (category,
// image) pairs by two stable counting sorts; each pair is matched in every area range and at every
// IoU threshold into a tp/ignored bit mask per detection (evaluate, threads over pairs); then per
// category the pairs' detections are merged by score once and read for each area range, maxDets
// and threshold (accumulate, threads over categories). Summaries are in coco_eval_summary.cpp.
// Built with -ffp-contract=off: every expression rounds as pycocotools' (numpy's, maskApi.c's) does.
#include "data/coco_eval.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/error.h"

namespace attncamp::data {

namespace {

constexpr int kMaxDets = kCocoMaxDets[kCocoMaxDetSettings - 1];
// pycocotools' areaRng, pixels^2, both ends inclusive.
constexpr double kAreaLo[kCocoAreaRanges] = {0.0, 0.0, 32.0 * 32.0, 96.0 * 96.0};
constexpr double kAreaHi[kCocoAreaRanges] = {1e10, 32.0 * 32.0, 96.0 * 96.0, 1e10};
constexpr uint16_t kAllThresholds = (1u << kCocoIouThresholds) - 1;
static_assert(kCocoIouThresholds <= 16, "threshold bits are kept in uint16_t masks");

// The boxes of one (category, image) pair: [g0, g1) of the ground-truth order and [d0, d1) of the
// detection order; its outcomes are at [out0, out0 + nd) with nd = min(d1 - d0, kMaxDets).
struct Pair {
  int32_t category = 0, image = 0;
  int64_t g0 = 0, g1 = 0, d0 = 0, d1 = 0, out0 = 0;
  int32_t npig[kCocoAreaRanges] = {0, 0, 0, 0};  // ground truth not ignored, per area range
};

// One evaluated detection: bit t of tp[a] / ignored[a] says it is a true positive / ignored at
// IoU threshold t in area range a (neither: a false positive). rank: its place in its pair.
struct Outcome {
  double score = 0;
  uint16_t tp[kCocoAreaRanges] = {0, 0, 0, 0};
  uint16_t ignored[kCocoAreaRanges] = {0, 0, 0, 0};
  int32_t rank = 0;
};

int resolve_threads(int threads) { return threads > 0 ? threads : std::max(1, omp_get_max_threads()); }

// Indices 0..n-1 ordered by (category, image), file order within: LSD radix by two counting sorts.
std::vector<int64_t> pair_order(const std::vector<int32_t>& category, const std::vector<int32_t>& image,
                                int64_t num_categories, int64_t num_images) {
  const size_t n = category.size();
  auto counting_sort = [n](const std::vector<int64_t>& in, const std::vector<int32_t>& key, int64_t buckets) {
    std::vector<int64_t> start(buckets + 1, 0), out(n);
    for (int64_t v : in) ++start[key[v] + 1];
    for (int64_t b = 0; b < buckets; ++b) start[b + 1] += start[b];
    for (int64_t v : in) out[start[key[v]]++] = v;
    return out;
  };
  std::vector<int64_t> order(n);
  for (size_t j = 0; j < n; ++j) order[j] = static_cast<int64_t>(j);
  return counting_sort(counting_sort(order, image, num_images), category, num_categories);
}

// Every (category, image) pair with ground truth or detections, ordered by category then image.
std::vector<Pair> make_pairs(const CocoEvalGroundTruth& gt, const std::vector<int64_t>& gt_order,
                             const CocoEvalDetections& dets, const std::vector<int64_t>& det_order) {
  const int64_t n = static_cast<int64_t>(gt.image_ids.size());
  auto key_gt = [&](int64_t j) { return gt.category[gt_order[j]] * n + gt.image[gt_order[j]]; };
  auto key_dt = [&](int64_t j) { return dets.category[det_order[j]] * n + dets.image[det_order[j]]; };
  const int64_t mg = static_cast<int64_t>(gt_order.size()), md = static_cast<int64_t>(det_order.size());
  std::vector<Pair> pairs;
  int64_t g = 0, d = 0, out = 0;
  while (g < mg || d < md) {
    const int64_t key = std::min(g < mg ? key_gt(g) : std::numeric_limits<int64_t>::max(),
                                 d < md ? key_dt(d) : std::numeric_limits<int64_t>::max());
    Pair p;
    p.category = static_cast<int32_t>(key / n);
    p.image = static_cast<int32_t>(key % n);
    p.g0 = g;
    while (g < mg && key_gt(g) == key) ++g;
    p.g1 = g;
    p.d0 = d;
    while (d < md && key_dt(d) == key) ++d;
    p.d1 = d;
    p.out0 = out;
    out += std::min<int64_t>(p.d1 - p.d0, kMaxDets);
    pairs.push_back(p);
  }
  return pairs;
}

// maskApi.c's bbIou for one detection box d and ground-truth box g (x, y, w, h).
double box_iou(const double* d, const double* g, bool crowd) {
  const double ga = g[2] * g[3], da = d[2] * d[3];
  const double w = std::fmin(d[2] + d[0], g[2] + g[0]) - std::fmax(d[0], g[0]);
  if (w <= 0) return 0;
  const double h = std::fmin(d[3] + d[1], g[3] + g[1]) - std::fmax(d[1], g[1]);
  if (h <= 0) return 0;
  const double inter = w * h;
  const double uni = crowd ? da : da + ga - inter;
  return inter / uni;
}

// Scratch space of one thread, reused across pairs.
struct PairScratch {
  std::vector<int64_t> dt;     // the pair's detections, score order, at most kMaxDets
  std::vector<double> iou;     // [nd, G] detection-major, ground truth in file order
  std::vector<int32_t> order;  // ground truth, not ignored first (file order within)
  std::vector<uint8_t> gt_ignored, gt_matched;
};

// pycocotools' evaluateImg for one pair in every area range (computeIoU included).
void evaluate_pair(const CocoEvalGroundTruth& gt, const std::vector<int64_t>& gt_order, const CocoEvalDetections& dets,
                   const std::vector<int64_t>& det_order, const std::array<double, kCocoIouThresholds>& iou_thr,
                   Pair& p, Outcome* out, PairScratch& s) {
  const int64_t ng = p.g1 - p.g0;
  s.dt.assign(det_order.begin() + p.d0, det_order.begin() + p.d1);
  std::stable_sort(s.dt.begin(), s.dt.end(), [&](int64_t a, int64_t b) { return dets.scores[a] > dets.scores[b]; });
  const int64_t nd = std::min<int64_t>(static_cast<int64_t>(s.dt.size()), kMaxDets);
  const int64_t* g_idx = gt_order.data() + p.g0;
  s.iou.resize(nd * ng);
  for (int64_t d = 0; d < nd; ++d) {
    for (int64_t g = 0; g < ng; ++g) {
      s.iou[d * ng + g] = box_iou(&dets.boxes[4 * s.dt[d]], &gt.boxes[4 * g_idx[g]], gt.iscrowd[g_idx[g]] != 0);
    }
  }
  for (int64_t d = 0; d < nd; ++d) {
    out[d] = Outcome{};
    out[d].score = dets.scores[s.dt[d]];
    out[d].rank = static_cast<int32_t>(d);
  }
  s.gt_ignored.resize(ng);
  s.gt_matched.resize(ng);
  for (int a = 0; a < kCocoAreaRanges; ++a) {
    s.order.clear();
    for (int64_t g = 0; g < ng; ++g) {
      const double area = gt.areas[g_idx[g]];
      s.gt_ignored[g] = gt.iscrowd[g_idx[g]] != 0 || area < kAreaLo[a] || area > kAreaHi[a];
      if (!s.gt_ignored[g]) s.order.push_back(static_cast<int32_t>(g));
    }
    p.npig[a] = static_cast<int32_t>(s.order.size());
    for (int64_t g = 0; g < ng; ++g) {
      if (s.gt_ignored[g]) s.order.push_back(static_cast<int32_t>(g));
    }
    for (int t = 0; t < kCocoIouThresholds; ++t) {
      std::fill(s.gt_matched.begin(), s.gt_matched.end(), 0);
      const uint16_t bit = static_cast<uint16_t>(1u << t);
      for (int64_t d = 0; d < nd; ++d) {
        double best = std::min(iou_thr[t], 1 - 1e-10);
        int64_t m = -1;
        for (int64_t gi = 0; gi < ng; ++gi) {
          const int32_t g = s.order[gi];
          if (s.gt_matched[g] && !gt.iscrowd[g_idx[g]]) continue;
          if (m > -1 && !s.gt_ignored[m] && s.gt_ignored[g]) break;
          if (s.iou[d * ng + g] < best) continue;
          best = s.iou[d * ng + g];
          m = g;
        }
        if (m == -1) continue;
        s.gt_matched[m] = 1;
        // pycocotools keeps the ground truth's id as the match and tests it against 0.
        if (gt.ids[g_idx[m]] == 0) {
          if (s.gt_ignored[m]) out[d].ignored[a] |= bit;
          continue;
        }
        if (s.gt_ignored[m]) {
          out[d].ignored[a] |= bit;
        } else {
          out[d].tp[a] |= bit;
        }
      }
    }
    // Unmatched detections outside the area range are ignored.
    for (int64_t d = 0; d < nd; ++d) {
      const double* b = &dets.boxes[4 * s.dt[d]];
      const double area = b[2] * b[3];
      if (area < kAreaLo[a] || area > kAreaHi[a]) {
        const uint16_t unmatched = static_cast<uint16_t>(kAllThresholds & ~(out[d].tp[a] | out[d].ignored[a]));
        out[d].ignored[a] |= unmatched;
      }
    }
  }
}

// pycocotools' accumulate for category k, whose pairs are pairs[p0, p1).
void accumulate_category(const std::vector<Pair>& pairs, int64_t p0, int64_t p1, const std::vector<Outcome>& outcomes,
                         const std::array<double, kCocoRecallThresholds>& rec_thr, CocoEvalResult& r, int64_t k) {
  constexpr double kEps = std::numeric_limits<double>::epsilon();  // np.spacing(1)
  std::vector<int64_t> merged;
  int64_t npig[kCocoAreaRanges] = {0, 0, 0, 0};
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t nd = std::min<int64_t>(pairs[p].d1 - pairs[p].d0, kMaxDets);
    for (int64_t d = 0; d < nd; ++d) merged.push_back(pairs[p].out0 + d);
    for (int a = 0; a < kCocoAreaRanges; ++a) npig[a] += pairs[p].npig[a];
  }
  std::stable_sort(merged.begin(), merged.end(),
                   [&](int64_t a, int64_t b) { return outcomes[a].score > outcomes[b].score; });
  std::vector<int64_t> kept;
  std::vector<double> rc, pr;
  for (int m = 0; m < kCocoMaxDetSettings; ++m) {
    kept.clear();
    for (int64_t o : merged) {
      if (outcomes[o].rank < kCocoMaxDets[m]) kept.push_back(o);
    }
    const int64_t nd = static_cast<int64_t>(kept.size());
    rc.resize(nd);
    pr.resize(nd);
    for (int a = 0; a < kCocoAreaRanges; ++a) {
      if (npig[a] == 0) continue;  // stays -1
      const double n_gt = static_cast<double>(npig[a]);
      for (int t = 0; t < kCocoIouThresholds; ++t) {
        const uint16_t bit = static_cast<uint16_t>(1u << t);
        double tp = 0, fp = 0;
        for (int64_t j = 0; j < nd; ++j) {
          const Outcome& o = outcomes[kept[j]];
          if (o.tp[a] & bit) {
            tp += 1;
          } else if (!(o.ignored[a] & bit)) {
            fp += 1;
          }
          rc[j] = tp / n_gt;
          pr[j] = tp / (fp + tp + kEps);
        }
        const size_t rt =
            ((static_cast<size_t>(t) * r.num_categories + k) * kCocoAreaRanges + a) * kCocoMaxDetSettings + m;
        r.recall[rt] = nd > 0 ? rc[nd - 1] : 0.0;
        for (int64_t j = nd - 1; j > 0; --j) {
          if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
        }
        int64_t pi = 0;
        for (int ri = 0; ri < kCocoRecallThresholds; ++ri) {
          while (pi < nd && rc[pi] < rec_thr[ri]) ++pi;
          const size_t at =
              (((static_cast<size_t>(t) * kCocoRecallThresholds + ri) * r.num_categories + k) * kCocoAreaRanges + a) *
                  kCocoMaxDetSettings +
              m;
          r.precision[at] = pi < nd ? pr[pi] : 0.0;
        }
      }
    }
  }
}

}  // namespace

CocoEvalResult evaluate_coco_bbox(const CocoEvalGroundTruth& gt, const CocoEvalDetections& dets, int threads) {
  const int64_t n = static_cast<int64_t>(gt.image_ids.size());
  const int64_t k_count = static_cast<int64_t>(gt.category_ids.size());
  ATTNCAMP_CHECK(gt.category.size() == gt.image.size() && gt.boxes.size() == 4 * gt.image.size() &&
                     gt.areas.size() == gt.image.size() && gt.iscrowd.size() == gt.image.size() &&
                     gt.ids.size() == gt.image.size(),
                 gt.source, ": ground-truth arrays of different lengths");
  ATTNCAMP_CHECK(dets.category.size() == dets.image.size() && dets.boxes.size() == 4 * dets.image.size() &&
                     dets.scores.size() == dets.image.size(),
                 dets.source, ": detection arrays of different lengths");
  const int nthreads = resolve_threads(threads);

  const std::vector<int64_t> gt_order = pair_order(gt.category, gt.image, k_count, n);
  const std::vector<int64_t> det_order = pair_order(dets.category, dets.image, k_count, n);
  std::vector<Pair> pairs = make_pairs(gt, gt_order, dets, det_order);
  const int64_t num_pairs = static_cast<int64_t>(pairs.size());
  const int64_t num_outcomes =
      pairs.empty() ? 0 : pairs.back().out0 + std::min<int64_t>(pairs.back().d1 - pairs.back().d0, kMaxDets);
  std::vector<Outcome> outcomes(num_outcomes);
  const std::array<double, kCocoIouThresholds> iou_thr = coco_iou_thresholds();
#pragma omp parallel num_threads(nthreads)
  {
    PairScratch scratch;
#pragma omp for schedule(dynamic, 64)
    for (int64_t p = 0; p < num_pairs; ++p) {
      evaluate_pair(gt, gt_order, dets, det_order, iou_thr, pairs[p], outcomes.data() + pairs[p].out0, scratch);
    }
  }

  CocoEvalResult r;
  r.num_categories = k_count;
  r.category_ids = gt.category_ids;
  r.category_names = gt.category_names;
  r.precision.assign(
      static_cast<size_t>(kCocoIouThresholds) * kCocoRecallThresholds * k_count * kCocoAreaRanges * kCocoMaxDetSettings,
      -1.0);
  r.recall.assign(static_cast<size_t>(kCocoIouThresholds) * k_count * kCocoAreaRanges * kCocoMaxDetSettings, -1.0);
  std::vector<int64_t> first_pair(k_count + 1, num_pairs);
  for (int64_t p = num_pairs - 1; p >= 0; --p) first_pair[pairs[p].category] = p;
  for (int64_t k = k_count - 1; k >= 0; --k) first_pair[k] = std::min(first_pair[k], first_pair[k + 1]);
  const std::array<double, kCocoRecallThresholds> rec_thr = coco_recall_thresholds();
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1)
  for (int64_t k = 0; k < k_count; ++k) {
    accumulate_category(pairs, first_pair[k], first_pair[k + 1], outcomes, rec_thr, r, k);
  }
  r.stats = coco_summary_stats(r);
  return r;
}

}  // namespace attncamp::data
