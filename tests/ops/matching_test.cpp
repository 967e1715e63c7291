// Tests for ops::match_proposals and ops::balanced_sample on the CPU. Matching: hand cases for the
// thresholds, the low-quality rule (ties, a ground truth that overlaps nothing), no ground truth,
// NaN, thresholds rounded to f32, f32 against f64, bad arguments, and torchvision's Matcher itself
// (through /usr/bin/python3) on detector-like IoU matrices with and without ties. Sampling: the
// counts torchvision's sampler takes, the definition (smallest Philox keys, listed by index),
// determinism and independence across steps and images, uniform inclusion, i32 against i64
// labels, bad arguments.
#include "ops/matching.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "ops/matching_sampler.h"
#include "ops/nms_math.h"
#include "tests/ops/nms_test_data.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::int64_values;

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

Tensor matrix(int64_t g, int64_t p, const std::vector<float>& v) {
  Tensor t = Tensor::empty({g, p});
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

std::vector<int64_t> match(const Tensor& iou, double high, double low, bool allow) {
  Tensor m = Tensor::empty({iou.size(1)}, DType::kI64);
  m.fill(12345);
  ops::MatcherOptions o;
  o.high_threshold = high;
  o.low_threshold = low;
  o.allow_low_quality_matches = allow;
  ops::match_proposals(iou, o, m);
  return int64_values(m);
}

// IoU [G, P] of the first G boxes (ground truth) against all P boxes of `in` (proposals), with
// ops/nms_math.h's IoU; `levels` > 0 rounds every IoU down to a multiple of 1 / levels (ties).
Tensor iou_matrix(const test::DetectionInputs& gt, const test::DetectionInputs& props, int levels) {
  const int64_t G = gt.scores.numel(), P = props.scores.numel();
  Tensor iou = Tensor::empty({G, P});
  const float* a = gt.boxes.data<float>();
  const float* b = props.boxes.data<float>();
  for (int64_t g = 0; g < G; ++g) {
    const float* x = a + 4 * g;
    for (int64_t p = 0; p < P; ++p) {
      const float* y = b + 4 * p;
      float v = ops::box_iou(x[0], x[1], x[2], x[3], ops::box_area(x[0], x[1], x[2], x[3]), y[0], y[1], y[2], y[3],
                             ops::box_area(y[0], y[1], y[2], y[3]));
      if (levels > 0) v = std::floor(v * static_cast<float>(levels)) / static_cast<float>(levels);
      iou.data<float>()[g * P + p] = v;
    }
  }
  return iou;
}

TEST(Matching, ThresholdsAndBestGroundTruth) {
  // 2 ground truths x 5 proposals. Proposal 0: best gt 1 at 0.8 (matched); 1: 0.5 (between);
  // 2: 0.2 (background); 3: tie 0.75 between gts 0 and 1 (the first, 0); 4: exactly 0.3 (between:
  // low is inclusive). With high = low = 0.3, 0.3 itself is matched (high is inclusive).
  const Tensor iou = matrix(2, 5,
                            {0.1f, 0.5f, 0.2f, 0.75f, 0.3f,  //
                             0.8f, 0.4f, 0.0f, 0.75f, 0.1f});
  EXPECT_EQ(match(iou, 0.7, 0.3, false), (std::vector<int64_t>{1, -2, -1, 0, -2}));
  EXPECT_EQ(match(iou, 0.3, 0.3, false), (std::vector<int64_t>{1, 0, -1, 0, 0}));
  // Low-quality matches: gt 0's best is 0.75 (proposal 3), gt 1's best 0.8 (proposal 0): those
  // proposals keep their best gt even if the thresholds would drop them.
  EXPECT_EQ(match(iou, 0.9, 0.85, false), (std::vector<int64_t>{-1, -1, -1, -1, -1}));
  EXPECT_EQ(match(iou, 0.9, 0.85, true), (std::vector<int64_t>{1, -1, -1, 0, -1}));
}

TEST(Matching, LowQualityTiesAndTheirOwnBestGroundTruth) {
  // gt 0's best value 0.4 is shared by proposals 1 and 2: both get their own best gt, which for
  // proposal 2 is gt 1 (0.6), as torchvision restores all_matches. gt 1 overlaps proposal 2 best.
  const Tensor iou = matrix(2, 4,
                            {0.1f, 0.4f, 0.4f, 0.2f,  //
                             0.0f, 0.1f, 0.6f, 0.05f});
  EXPECT_EQ(match(iou, 0.7, 0.5, true), (std::vector<int64_t>{-1, 0, 1, -1}));
  // A ground truth that overlaps nothing (all 0) ties with every proposal at 0: all of them get
  // their best gt back, here gt 0 for proposal 0 (0 against 0: the first).
  const Tensor none = matrix(2, 3,
                             {0.0f, 0.0f, 0.0f,  //
                              0.0f, 0.9f, 0.0f});
  EXPECT_EQ(match(none, 0.7, 0.3, true), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(match(none, 0.7, 0.3, false), (std::vector<int64_t>{-1, 1, -1}));
}

TEST(Matching, NoGroundTruthIsAllBackground) {
  EXPECT_EQ(match(Tensor::empty({0, 4}), 0.7, 0.3, true), (std::vector<int64_t>{-1, -1, -1, -1}));
  EXPECT_EQ(match(Tensor::empty({3, 0}), 0.7, 0.3, true), (std::vector<int64_t>{}));
}

TEST(Matching, NanNeverMatches) {
  // Proposal 0: gt 0 NaN, gt 1 at 0.9 -> 1. Proposal 1: all NaN -> background, even with low
  // quality matches. gt 0's best number is 0.2 (proposal 2).
  const Tensor iou = matrix(2, 3,
                            {kNan, kNan, 0.2f,  //
                             0.9f, kNan, 0.1f});
  EXPECT_EQ(match(iou, 0.7, 0.3, false), (std::vector<int64_t>{1, -1, -1}));
  EXPECT_EQ(match(iou, 0.7, 0.3, true), (std::vector<int64_t>{1, -1, 0}));
}

TEST(Matching, ThresholdsAreRoundedToTheMatrixDtype) {
  // 0.7f < 0.7 as doubles, but torch compares in f32, where they are equal: matched.
  const Tensor iou = matrix(1, 2, {0.7f, std::nextafter(0.7f, 0.0f)});
  EXPECT_EQ(match(iou, 0.7, 0.3, false), (std::vector<int64_t>{0, -2}));
  Tensor iou64 = test::to_dtype(iou, DType::kF64);
  EXPECT_EQ(match(iou64, 0.7, 0.3, false), (std::vector<int64_t>{-2, -2}));
  EXPECT_EQ(match(iou64, 0.7f, 0.3, false), (std::vector<int64_t>{0, -2}));
}

TEST(Matching, F64MatchesF32) {
  const auto gt = test::clustered_boxes(20, 20, 1, 5);
  const auto props = test::clustered_boxes(3000, 20, 1, 6);
  const Tensor iou = iou_matrix(gt, props, 16);  // multiples of 1/16: exact in both dtypes
  for (bool allow : {false, true}) {
    EXPECT_EQ(match(iou, 0.5, 0.25, allow), match(test::to_dtype(iou, DType::kF64), 0.5, 0.25, allow));
  }
}

TEST(Matching, ResultsDoNotDependOnThreads) {
  const auto gt = test::clustered_boxes(30, 30, 1, 15);
  const auto props = test::clustered_boxes(5000, 60, 1, 16);
  const Tensor iou = iou_matrix(gt, props, 8);
  const std::vector<int64_t> labels_source = match(iou, 0.5, 0.3, true);
  const int saved = omp_get_max_threads();
  std::vector<int64_t> got[2], pos[2], neg[2];
  for (int t = 0; t < 2; ++t) {
    omp_set_num_threads(t == 0 ? 1 : 3);
    got[t] = match(iou, 0.5, 0.3, true);
    Tensor labels = Tensor::empty({5000}, DType::kI64);
    for (int64_t i = 0; i < 5000; ++i) labels.data<int64_t>()[i] = got[t][i] >= 0 ? 1 : got[t][i] == -1 ? 0 : -1;
    const ops::BalancedSample s = ops::balanced_sample(labels, {}, {1, 2, 3});
    pos[t] = int64_values(s.positive);
    neg[t] = int64_values(s.negative);
  }
  omp_set_num_threads(saved);
  EXPECT_EQ(got[0], labels_source);
  EXPECT_EQ(got[0], got[1]);
  EXPECT_EQ(pos[0], pos[1]);
  EXPECT_EQ(neg[0], neg[1]);
}

TEST(Matching, BadArgumentsThrowNamingOpAndArgument) {
  Tensor m = Tensor::empty({4}, DType::kI64);
  ops::MatcherOptions o;
  test::expect_error([&] { ops::match_proposals(Tensor::zeros({4}), o, m); }, {"match_proposals: iou", "[G,P]"});
  test::expect_error(
      [&] {
        ops::match_proposals(Tensor::zeros({2, 5}), o, m);
      },
      {"match_proposals: matches", "[5]", "[4]"});
  Tensor m32 = Tensor::empty({4}, DType::kI32);
  test::expect_error(
      [&] {
        ops::match_proposals(Tensor::zeros({2, 4}), o, m32);
      },
      {"match_proposals: matches", "i64", "i32"});
  o.low_threshold = 0.8;
  test::expect_error(
      [&] {
        ops::match_proposals(Tensor::zeros({2, 4}), o, m);
      },
      {"match_proposals: options.low_threshold", "0.8"});
}

TEST(Matching, MatchesTorchvision) {
  if (std::system("/usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 with torch and torchvision not available";
  }
  const std::string dir = test::temp_dir();
  struct Run {
    int64_t gts, proposals;
    int levels;
    double high, low;
    bool allow;
  };
  const std::vector<Run> runs = {{10, 2000, 0, 0.7, 0.3, true},  {10, 2000, 8, 0.7, 0.3, true},
                                 {25, 1000, 0, 0.5, 0.5, false}, {25, 1000, 4, 0.5, 0.5, true},
                                 {1, 300, 0, 0.7, 0.3, true},    {40, 500, 16, 0.6, 0.4, false}};
  std::vector<Tensor> ious;
  std::string cmd = "/usr/bin/python3 " + test::source_dir() + "/tests/ops/matching_torchvision.py";
  for (size_t r = 0; r < runs.size(); ++r) {
    const Run& run = runs[r];
    const auto gt = test::clustered_boxes(run.gts, run.gts, 1, 70 + r);
    const auto props = test::clustered_boxes(run.proposals, run.gts * 2, 1, 80 + r);
    ious.push_back(iou_matrix(gt, props, run.levels));
    const std::string base = dir + "/case" + std::to_string(r);
    std::ofstream(base + ".iou", std::ios::binary)
        .write(static_cast<const char*>(ious.back().raw_data()), ious.back().nbytes());
    cmd += " " + base + " " + std::to_string(run.gts) + " " + std::to_string(run.proposals) + " " +
           std::to_string(run.high) + " " + std::to_string(run.low) + " " + (run.allow ? "1" : "0");
  }
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (size_t r = 0; r < runs.size(); ++r) {
    const Run& run = runs[r];
    std::vector<int64_t> theirs(static_cast<size_t>(run.proposals));
    std::ifstream(dir + "/case" + std::to_string(r) + ".matches", std::ios::binary)
        .read(reinterpret_cast<char*>(theirs.data()), static_cast<std::streamsize>(theirs.size() * 8));
    EXPECT_EQ(match(ious[r], run.high, run.low, run.allow), theirs) << "case " << r;
  }
}

// Labels: kinds by i % 10 (0..2 positive, 3..6 negative, 7..9 ignored), or as given.
Tensor labels_of(const std::vector<int64_t>& v, DType dtype = DType::kI64) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, dtype);
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == DType::kI64) {
      t.data<int64_t>()[i] = v[i];
    } else {
      t.data<int32_t>()[i] = static_cast<int32_t>(v[i]);
    }
  }
  return t;
}

std::vector<int64_t> mixed_labels(int64_t n, int64_t positives_per_10, int64_t negatives_per_10) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = (i * 7) % 10;
    v[i] = r < positives_per_10 ? 1 + i % 3 : r < positives_per_10 + negatives_per_10 ? 0 : -1;
  }
  return v;
}

ops::BalancedSample sample(const std::vector<int64_t>& labels, int64_t batch, double fraction,
                           const ops::SampleKey& key) {
  ops::SamplerOptions o;
  o.batch_size_per_image = batch;
  o.positive_fraction = fraction;
  return ops::balanced_sample(labels_of(labels), o, key);
}

// The sampler's definition, from sampler_key: the smallest keys of each kind, listed by index.
std::pair<std::vector<int64_t>, std::vector<int64_t>> expected_sample(const std::vector<int64_t>& labels, int64_t kp,
                                                                      int64_t kn, const ops::SampleKey& key) {
  std::vector<std::pair<uint64_t, int64_t>> pos, neg;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= 1) pos.push_back({ops::sampler_key(key, i), static_cast<int64_t>(i)});
    if (labels[i] == 0) neg.push_back({ops::sampler_key(key, i), static_cast<int64_t>(i)});
  }
  std::sort(pos.begin(), pos.end());
  std::sort(neg.begin(), neg.end());
  std::vector<int64_t> p, n;
  for (int64_t j = 0; j < kp; ++j) p.push_back(pos[j].second);
  for (int64_t j = 0; j < kn; ++j) n.push_back(neg[j].second);
  std::sort(p.begin(), p.end());
  std::sort(n.begin(), n.end());
  return {p, n};
}

TEST(BalancedSample, CountsAndDefinition) {
  struct Run {
    int64_t n, pos10, neg10, batch;
    double fraction;
    int64_t want_p, want_n;
  };
  // 2000 candidates: 600 positive and 800 negative (3 and 4 in 10) ...
  const std::vector<Run> runs = {
      {2000, 3, 4, 512, 0.25, 128, 384},  // enough of both
      {2000, 3, 4, 256, 0.5, 128, 128},   // the RPN's setting
      {200, 1, 8, 512, 0.25, 20, 160},    // few positives: negatives fill up to what exists
      {2000, 3, 0, 512, 0.25, 128, 0},    // no negatives
      {2000, 0, 4, 512, 0.25, 0, 512},    // no positives: the batch is all negatives
      {1000, 3, 4, 100, 0.333, 33, 67},   // floor(100 * 0.333) = 33
      {1000, 3, 4, 0, 0.25, 0, 0},        // empty batch
      {0, 3, 4, 512, 0.25, 0, 0},         // no candidates
  };
  for (size_t r = 0; r < runs.size(); ++r) {
    const Run& run = runs[r];
    const std::vector<int64_t> labels = mixed_labels(run.n, run.pos10, run.neg10);
    const ops::SampleKey key{7, 100 + r, 3};
    const ops::BalancedSample s = sample(labels, run.batch, run.fraction, key);
    EXPECT_EQ(s.positive.numel(), run.want_p) << "case " << r;
    EXPECT_EQ(s.negative.numel(), run.want_n) << "case " << r;
    const auto want = expected_sample(labels, run.want_p, run.want_n, key);
    EXPECT_EQ(int64_values(s.positive), want.first) << "case " << r;
    EXPECT_EQ(int64_values(s.negative), want.second) << "case " << r;
  }
}

TEST(BalancedSample, SameKeySameSampleOtherKeysOthers) {
  const std::vector<int64_t> labels = mixed_labels(5000, 2, 5);
  const ops::BalancedSample a = sample(labels, 512, 0.25, {1, 2, 3});
  EXPECT_EQ(int64_values(a.positive), int64_values(sample(labels, 512, 0.25, {1, 2, 3}).positive));
  EXPECT_EQ(int64_values(a.negative), int64_values(sample(labels, 512, 0.25, {1, 2, 3}).negative));
  for (const ops::SampleKey& other : {ops::SampleKey{2, 2, 3}, ops::SampleKey{1, 3, 3}, ops::SampleKey{1, 2, 4}}) {
    const ops::BalancedSample b = sample(labels, 512, 0.25, other);
    EXPECT_NE(int64_values(a.positive), int64_values(b.positive));
    EXPECT_NE(int64_values(a.negative), int64_values(b.negative));
  }
  Tensor i32 = labels_of(labels, DType::kI32);
  ops::SamplerOptions o;
  const ops::BalancedSample c = ops::balanced_sample(i32, o, {1, 2, 3});
  EXPECT_EQ(int64_values(c.positive), int64_values(a.positive));
  EXPECT_EQ(int64_values(c.negative), int64_values(a.negative));
}

// Over 4000 steps, each of 100 positives is drawn 10 times in 100 per step: its count is
// binomial(4000, 0.1), mean 400, sd 19; all within 5 sd (a fixed seed: no flakiness).
TEST(BalancedSample, EveryCandidateIsEquallyLikely) {
  std::vector<int64_t> labels(300, 0);
  for (int64_t i = 0; i < 100; ++i) labels[3 * i] = 1;
  std::vector<int64_t> count(300, 0);
  for (uint64_t step = 0; step < 4000; ++step) {
    const ops::BalancedSample s = sample(labels, 40, 0.25, {11, step, 0});
    for (int64_t i : int64_values(s.positive)) ++count[i];
    for (int64_t i : int64_values(s.negative)) ++count[i];
  }
  const double sd = std::sqrt(4000 * 0.1 * 0.9), sd_neg = std::sqrt(4000 * 0.15 * 0.85);
  for (int64_t i = 0; i < 300; ++i) {
    if (labels[i] == 1) {
      EXPECT_NEAR(count[i], 400, 5 * sd) << i;
    } else {
      EXPECT_NEAR(count[i], 600, 5 * sd_neg) << i;  // 30 of 200 negatives per step
    }
  }
}

TEST(BalancedSample, BadArgumentsThrowNamingOpAndArgument) {
  ops::SamplerOptions o;
  test::expect_error([&] { ops::balanced_sample(Tensor::zeros({4}), o, {}); }, {"balanced_sample: labels", "f32"});
  test::expect_error(
      [&] {
        ops::balanced_sample(Tensor::zeros({2, 2}, DType::kI64), o, {});
      },
      {"balanced_sample: labels", "[P]"});
  o.positive_fraction = 1.5;
  test::expect_error([&] { ops::balanced_sample(Tensor::zeros({4}, DType::kI64), o, {}); },
                     {"balanced_sample: options.positive_fraction", "1.5"});
  o.positive_fraction = 0.25;
  o.batch_size_per_image = -1;
  test::expect_error([&] { ops::balanced_sample(Tensor::zeros({4}, DType::kI64), o, {}); },
                     {"balanced_sample: options.batch_size_per_image", "-1"});
}

}  // namespace
}  // namespace attncamp
