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

// A ground-truth box and a detection as the evaluation reads them, gathered into pair order so
// that each pair's rows are contiguous.
struct GtRow {
  double box[4];
  double area;  // the annotation's 'area'
  int64_t id;
  bool crowd;
};
struct DetRow {
  double box[4];
  double score;
};

std::vector<GtRow> gather_gt(const CocoEvalGroundTruth& gt, const std::vector<int64_t>& order) {
  std::vector<GtRow> rows(order.size());
  for (size_t j = 0; j < order.size(); ++j) {
    const int64_t q = order[j];
    std::copy(&gt.boxes[4 * q], &gt.boxes[4 * q] + 4, rows[j].box);
    rows[j].area = gt.areas[q];
    rows[j].id = gt.ids[q];
    rows[j].crowd = gt.iscrowd[q] != 0;
  }
  return rows;
}

std::vector<DetRow> gather_dets(const CocoEvalDetections& dets, const std::vector<int64_t>& order) {
  std::vector<DetRow> rows(order.size());
  for (size_t j = 0; j < order.size(); ++j) {
    std::copy(&dets.boxes[4 * order[j]], &dets.boxes[4 * order[j]] + 4, rows[j].box);
    rows[j].score = dets.scores[order[j]];
  }
  return rows;
}

// Scratch space of one thread, reused across pairs.
struct PairScratch {
  std::vector<int32_t> dt;     // the pair's detections (row offsets), score order
  std::vector<double> iou;     // [nd, G] detection-major, ground truth in file order
  std::vector<int32_t> order;  // ground truth, not ignored first (file order within)
  std::vector<uint8_t> gt_ignored, gt_matched;
};

// Orders s.dt by score, highest first, ties in file order (numpy's stable mergesort), without
// std::stable_sort's buffer allocation for the usual handful of detections.
void sort_by_score(const DetRow* d, std::vector<int32_t>& idx) {
  auto higher = [d](int32_t a, int32_t b) { return d[a].score > d[b].score; };
  if (idx.size() > 32) {
    std::stable_sort(idx.begin(), idx.end(), higher);
    return;
  }
  for (size_t i = 1; i < idx.size(); ++i) {
    const int32_t v = idx[i];
    size_t j = i;
    for (; j > 0 && higher(v, idx[j - 1]); --j) idx[j] = idx[j - 1];
    idx[j] = v;
  }
}

// pycocotools' evaluateImg for one pair in every area range (computeIoU included): gt = the
// pair's ng ground-truth rows, dt_rows = its detection rows, both in file order.
void evaluate_pair(const GtRow* gt, const DetRow* dt_rows, const std::array<double, kCocoIouThresholds>& iou_thr,
                   Pair& p, Outcome* out, PairScratch& s) {
  const int64_t ng = p.g1 - p.g0;
  s.dt.resize(p.d1 - p.d0);
  for (size_t d = 0; d < s.dt.size(); ++d) s.dt[d] = static_cast<int32_t>(d);
  sort_by_score(dt_rows, s.dt);
  const int64_t nd = std::min<int64_t>(static_cast<int64_t>(s.dt.size()), kMaxDets);
  s.iou.resize(nd * ng);
  for (int64_t d = 0; d < nd; ++d) {
    for (int64_t g = 0; g < ng; ++g) s.iou[d * ng + g] = box_iou(dt_rows[s.dt[d]].box, gt[g].box, gt[g].crowd);
  }
  for (int64_t d = 0; d < nd; ++d) {
    out[d] = Outcome{};
    out[d].score = dt_rows[s.dt[d]].score;
    out[d].rank = static_cast<int32_t>(d);
  }
  s.gt_ignored.resize(ng);
  s.gt_matched.resize(ng);
  for (int a = 0; a < kCocoAreaRanges; ++a) {
    s.order.clear();
    for (int64_t g = 0; g < ng; ++g) {
      s.gt_ignored[g] = gt[g].crowd || gt[g].area < kAreaLo[a] || gt[g].area > kAreaHi[a];
      if (!s.gt_ignored[g]) s.order.push_back(static_cast<int32_t>(g));
    }
    p.npig[a] = static_cast<int32_t>(s.order.size());
    for (int64_t g = 0; g < ng; ++g) {
      if (s.gt_ignored[g]) s.order.push_back(static_cast<int32_t>(g));
    }
    for (int t = 0; t < kCocoIouThresholds && ng > 0; ++t) {
      std::fill(s.gt_matched.begin(), s.gt_matched.end(), 0);
      const uint16_t bit = static_cast<uint16_t>(1u << t);
      for (int64_t d = 0; d < nd; ++d) {
        double best = std::min(iou_thr[t], 1 - 1e-10);
        int64_t m = -1;
        for (int64_t gi = 0; gi < ng; ++gi) {
          const int32_t g = s.order[gi];
          if (s.gt_matched[g] && !gt[g].crowd) continue;
          if (m > -1 && !s.gt_ignored[m] && s.gt_ignored[g]) break;
          if (s.iou[d * ng + g] < best) continue;
          best = s.iou[d * ng + g];
          m = g;
        }
        if (m == -1) continue;
        s.gt_matched[m] = 1;
        // pycocotools keeps the ground truth's id as the match and tests it against 0.
        if (gt[m].id == 0) {
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
      const double* b = dt_rows[s.dt[d]].box;
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
  std::vector<std::pair<double, int64_t>> merged;                  // (score, outcome), images in id order
  int64_t npig[kCocoAreaRanges] = {0, 0, 0, 0};
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t nd = std::min<int64_t>(pairs[p].d1 - pairs[p].d0, kMaxDets);
    for (int64_t d = pairs[p].out0; d < pairs[p].out0 + nd; ++d) merged.emplace_back(outcomes[d].score, d);
    for (int a = 0; a < kCocoAreaRanges; ++a) npig[a] += pairs[p].npig[a];
  }
  std::stable_sort(merged.begin(), merged.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<Outcome> kept;                                           // contiguous, in merged order
  std::vector<double> rc[kCocoIouThresholds], pr[kCocoIouThresholds];  // at the true positives
  for (int m = 0; m < kCocoMaxDetSettings; ++m) {
    kept.clear();
    for (const auto& [score, o] : merged) {
      if (outcomes[o].rank < kCocoMaxDets[m]) kept.push_back(outcomes[o]);
    }
    const int64_t nd = static_cast<int64_t>(kept.size());
    for (int a = 0; a < kCocoAreaRanges; ++a) {
      if (npig[a] == 0) continue;  // stays -1
      const double n_gt = static_cast<double>(npig[a]);
      // pycocotools computes recall rc = tp / n_gt and precision pr = tp / (tp + fp + eps) at
      // every detection, takes pr's running maximum from the right, and reads it at the first
      // position whose rc reaches each recall threshold. rc only rises at a true positive, so
      // that first position is always one (or position 0, for threshold 0, where the maximum is
      // the same as from the first true positive); and pr only rises at a true positive, so the
      // maximum from one is the maximum over the true positives from it. Hence only the true
      // positives' rc and pr are computed (tp and fp are counts, exact in double, as numpy's).
      int64_t tp[kCocoIouThresholds] = {}, fp[kCocoIouThresholds] = {};
      for (int t = 0; t < kCocoIouThresholds; ++t) rc[t].clear(), pr[t].clear();
      for (int64_t j = 0; j < nd; ++j) {
        const unsigned tp_bits = kept[j].tp[a];
        const unsigned fp_bits = kAllThresholds & ~(tp_bits | kept[j].ignored[a]);
        for (int t = 0; t < kCocoIouThresholds; ++t) fp[t] += (fp_bits >> t) & 1u;
        for (unsigned bits = tp_bits; bits != 0; bits &= bits - 1) {
          const int t = __builtin_ctz(bits);
          const double tps = static_cast<double>(++tp[t]);
          rc[t].push_back(tps / n_gt);
          pr[t].push_back(tps / (static_cast<double>(fp[t]) + tps + kEps));
        }
      }
      for (int t = 0; t < kCocoIouThresholds; ++t) {
        const size_t rt =
            ((static_cast<size_t>(t) * r.num_categories + k) * kCocoAreaRanges + a) * kCocoMaxDetSettings + m;
        r.recall[rt] = nd > 0 ? static_cast<double>(tp[t]) / n_gt : 0.0;
        std::vector<double>& p_t = pr[t];
        const int64_t ntp = static_cast<int64_t>(p_t.size());
        for (int64_t j = ntp - 1; j > 0; --j) {
          if (p_t[j] > p_t[j - 1]) p_t[j - 1] = p_t[j];
        }
        int64_t pi = 0;
        for (int ri = 0; ri < kCocoRecallThresholds; ++ri) {
          while (pi < ntp && rc[t][pi] < rec_thr[ri]) ++pi;
          const size_t at =
              (((static_cast<size_t>(t) * kCocoRecallThresholds + ri) * r.num_categories + k) * kCocoAreaRanges + a) *
                  kCocoMaxDetSettings +
              m;
          r.precision[at] = pi < ntp ? p_t[pi] : 0.0;
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
  const std::vector<GtRow> gt_rows = gather_gt(gt, gt_order);
  const std::vector<DetRow> det_rows = gather_dets(dets, det_order);
  const std::array<double, kCocoIouThresholds> iou_thr = coco_iou_thresholds();
#pragma omp parallel num_threads(nthreads)
  {
    PairScratch scratch;
#pragma omp for schedule(dynamic, 64)
    for (int64_t p = 0; p < num_pairs; ++p) {
      evaluate_pair(gt_rows.data() + pairs[p].g0, det_rows.data() + pairs[p].d0, iou_thr, pairs[p],
                    outcomes.data() + pairs[p].out0, scratch);
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
