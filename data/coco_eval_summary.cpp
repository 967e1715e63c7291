// pycocotools' parameters and summaries: the linspace thresholds, numpy's mean (pairwise
// summation, as np.add.reduce does it on a contiguous float64 array), COCOeval.summarize's twelve
// numbers and its printed lines, and the per-category AP.
#include <cstdio>
#include <vector>

#include "data/coco_eval.h"

namespace attncamp::data {

namespace {

// numpy.linspace(start, stop, N): i * ((stop - start) / (N - 1)) + start, the last one exactly stop.
template <int N>
std::array<double, N> linspace(double start, double stop) {
  std::array<double, N> y{};
  const double step = (stop - start) / (N - 1);
  for (int i = 0; i < N; ++i) y[i] = static_cast<double>(i) * step + start;
  y[N - 1] = stop;
  return y;
}

// numpy's pairwise_sum for float64 (8 accumulators up to 128 values, halves beyond).
double pairwise_sum(const double* a, size_t n) {
  if (n < 8) {
    double res = 0.;
    for (size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

// np.mean(s[s > -1]) for the values in `s` (in numpy's element order), or -1 when none is > -1.
double mean_of_valid(const std::vector<double>& s) {
  std::vector<double> valid;
  valid.reserve(s.size());
  for (double v : s) {
    if (v > -1) valid.push_back(v);
  }
  if (valid.empty()) return -1;
  return (0.0 + pairwise_sum(valid.data(), valid.size())) / static_cast<double>(valid.size());
}

// One of summarize()'s lines: precision (ap) or recall at IoU threshold iou_thr (< 0: all), area
// range a and maxDets index m, in [t, r, k] (precision) or [t, k] (recall) order.
struct SummaryLine {
  bool ap;
  double iou_thr;
  int area;
  int max_det;
};
constexpr SummaryLine kLines[12] = {
    {true, -1, 0, 2},  {true, 0.5, 0, 2}, {true, 0.75, 0, 2}, {true, -1, 1, 2},  {true, -1, 2, 2},  {true, -1, 3, 2},
    {false, -1, 0, 0}, {false, -1, 0, 1}, {false, -1, 0, 2},  {false, -1, 1, 2}, {false, -1, 2, 2}, {false, -1, 3, 2},
};

double summarize_line(const CocoEvalResult& r, const SummaryLine& line) {
  const std::array<double, kCocoIouThresholds> thr = coco_iou_thresholds();
  std::vector<double> s;
  for (int t = 0; t < kCocoIouThresholds; ++t) {
    if (line.iou_thr >= 0 && thr[t] != line.iou_thr) continue;  // np.where(iouThr == p.iouThrs)
    if (line.ap) {
      for (int ri = 0; ri < kCocoRecallThresholds; ++ri) {
        for (int64_t k = 0; k < r.num_categories; ++k) s.push_back(r.precision_at(t, ri, k, line.area, line.max_det));
      }
    } else {
      for (int64_t k = 0; k < r.num_categories; ++k) s.push_back(r.recall_at(t, k, line.area, line.max_det));
    }
  }
  return mean_of_valid(s);
}

}  // namespace

std::array<double, kCocoIouThresholds> coco_iou_thresholds() { return linspace<kCocoIouThresholds>(0.5, 0.95); }
std::array<double, kCocoRecallThresholds> coco_recall_thresholds() { return linspace<kCocoRecallThresholds>(0.0, 1.0); }

std::array<double, 12> coco_summary_stats(const CocoEvalResult& r) {
  std::array<double, 12> stats{};
  for (int i = 0; i < 12; ++i) stats[i] = summarize_line(r, kLines[i]);
  return stats;
}

double CocoEvalResult::category_ap(int64_t k) const {
  std::vector<double> s;
  for (int t = 0; t < kCocoIouThresholds; ++t) {
    for (int ri = 0; ri < kCocoRecallThresholds; ++ri) s.push_back(precision_at(t, ri, k, 0, kCocoMaxDetSettings - 1));
  }
  return mean_of_valid(s);
}

std::string format_coco_summary(const CocoEvalResult& r) {
  std::string out;
  for (int i = 0; i < 12; ++i) {
    const SummaryLine& line = kLines[i];
    char iou[32];
    if (line.iou_thr < 0) {
      const std::array<double, kCocoIouThresholds> thr = coco_iou_thresholds();
      std::snprintf(iou, sizeof(iou), "%0.2f:%0.2f", thr[0], thr[kCocoIouThresholds - 1]);
    } else {
      std::snprintf(iou, sizeof(iou), "%0.2f", line.iou_thr);
    }
    char buf[160];
    std::snprintf(buf, sizeof(buf), " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                  line.ap ? "Average Precision" : "Average Recall", line.ap ? "(AP)" : "(AR)", iou,
                  kCocoAreaNames[line.area], kCocoMaxDets[line.max_det], r.stats[i]);
    out += buf;
  }
  return out;
}

}  // namespace attncamp::data
