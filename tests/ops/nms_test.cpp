// Tests for ops::nms, ops::batched_nms and ops::topk_indices on the CPU: the score order and the
// once-rounded IoU of ops/nms_math.h, keep lists against a plain greedy loop (tests/ops/
// nms_test_data.h) on clustered boxes, hand cases (strict threshold, ties, NaN scores, NaN
// coordinates), pre-selection, batched NMS's two paths against each other and against one NMS per
// class, thread-count determinism, top-k against a full sort, bad arguments, and torchvision's own
// nms/batched_nms (through /usr/bin/python3) on the same inputs. Built with -ffp-contract=off.
#include "ops/nms.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "ops/cpu/nms_radix_sort.h"
#include "ops/nms_math.h"
#include "ops/nms_topk.h"
#include "runtime/rng.h"
#include "tests/ops/nms_test_data.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::clustered_boxes;
using test::int64_values;
using test::reference_nms;

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

Tensor f32(const Shape& shape, const std::vector<float>& v) {
  Tensor t = Tensor::empty(shape);
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

template <class T>
std::vector<int64_t> reference(const test::DetectionInputs& in, bool classes, double thr, int64_t max_candidates = -1) {
  return reference_nms(in.boxes.data<T>(), in.scores.data<T>(), classes ? in.class_ids.data<int64_t>() : nullptr,
                       in.scores.numel(), thr, max_candidates);
}

TEST(NmsMath, ScoreKeysOrderLargestFirstNanLast) {
  const std::vector<float> s = {kInf, 2.0f, 0.5f, 1e-30f, 0.0f, -1e-30f, -1.0f, -kInf, kNan};
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    EXPECT_LT(ops::score_key(s[i]), ops::score_key(s[i + 1])) << s[i] << " before " << s[i + 1];
    EXPECT_LT(ops::score_key(static_cast<double>(s[i])), ops::score_key(static_cast<double>(s[i + 1])));
  }
  EXPECT_EQ(ops::score_key(-0.0f), ops::score_key(0.0f));
  EXPECT_EQ(ops::score_key(-0.0), ops::score_key(0.0));
  EXPECT_EQ(ops::score_key(-kNan), ops::score_key(kNan));
}

// box_iou rounds each operation once, in the documented order: the same as a computation whose
// every intermediate is stored through a volatile float. Fails if this file's build fused a
// multiply with an add (-ffp-contract).
TEST(NmsMath, IouRoundsEveryOperationOnce) {
  const auto in = clustered_boxes(2000, 50, 1, 1);
  const float* b = in.boxes.data<float>();
  int64_t differ = 0;
  for (int64_t i = 0; i + 1 < 2000; ++i) {
    const float* p = b + 4 * i;
    const float* q = b + 4 * (i + 1);
    volatile float dx = p[2] - p[0], dy = p[3] - p[1], ex = q[2] - q[0], ey = q[3] - q[1];
    volatile float area_p = dx * dy, area_q = ex * ey;
    volatile float w = std::min(p[2], q[2]) - std::max(p[0], q[0]);
    volatile float h = std::min(p[3], q[3]) - std::max(p[1], q[1]);
    volatile float inter = std::max(0.0f, static_cast<float>(w)) * std::max(0.0f, static_cast<float>(h));
    volatile float sum = area_p + area_q;
    volatile float uni = sum - inter;
    const float want = uni == 0.0f ? 0.0f : inter / uni;
    const float ap = ops::box_area(p[0], p[1], p[2], p[3]), aq = ops::box_area(q[0], q[1], q[2], q[3]);
    const float got = ops::box_iou(p[0], p[1], p[2], p[3], ap, q[0], q[1], q[2], q[3], aq);
    differ += got != want;
  }
  EXPECT_EQ(differ, 0);
}

TEST(NmsMath, ThresholdDecidesAsDouble) {
  for (double t : {0.3, 0.5, 0.7, 1.0 / 3.0, 0.0, -0.1, 2.0}) {
    const float tf = ops::nms_threshold<float>(t);
    for (float v :
         {std::nextafter(tf, -1.0f), tf, std::nextafter(tf, 2.0f), std::nextafter(std::nextafter(tf, 2.0f), 2.0f)}) {
      EXPECT_EQ(v > tf, static_cast<double>(v) > t) << v << " vs " << t;
    }
  }
}

// The CPU selection ops' radix sort (ops/cpu/nms_radix_sort.h) against std::stable_sort: keys with
// every byte varying, with only the low byte varying (one pass), all equal (no pass) and 64-bit.
TEST(NmsRadixSort, SortsLikeStableSort) {
  auto check = [](std::vector<uint64_t> keys, const char* what) {
    std::vector<int64_t> values(keys.size());
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<int64_t>(i);
    std::vector<std::pair<uint64_t, int64_t>> expected;
    for (size_t i = 0; i < keys.size(); ++i) expected.emplace_back(keys[i], values[i]);
    std::stable_sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    ops::cpu::radix_sort_pairs(keys, values);
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_EQ(keys[i], expected[i].first) << what << " at " << i;
      ASSERT_EQ(values[i], expected[i].second) << what << " at " << i;
    }
  };
  std::vector<uint64_t> wide(5000), low(5000), same(300, 7);
  for (size_t i = 0; i < wide.size(); ++i) {
    wide[i] = static_cast<uint64_t>(philox_uniform(3, 1, i) * 1e18);
    low[i] = static_cast<uint64_t>(philox_uniform(3, 2, i) * 40);  // many ties
  }
  check(wide, "wide keys");
  check(low, "low byte only");
  check(same, "equal keys");
  check({}, "empty");
  std::vector<uint32_t> k32 = {9, 3, 3, 0xFFFFFFFFu, 0, 3};
  std::vector<int> v32 = {0, 1, 2, 3, 4, 5};
  ops::cpu::radix_sort_pairs(k32, v32);
  EXPECT_EQ(k32, (std::vector<uint32_t>{0, 3, 3, 3, 9, 0xFFFFFFFFu}));
  EXPECT_EQ(v32, (std::vector<int>{4, 1, 2, 5, 0, 3}));
}

TEST(Nms, MatchesGreedyReferenceOnClusters) {
  for (int64_t n : {1, 2, 7, 64, 65, 300, 2500}) {
    for (double thr : {0.3, 0.5, 0.7}) {
      const auto in = clustered_boxes(n, std::max<int64_t>(1, n / 8), 1, 10 + n);
      const std::vector<int64_t> want = reference<float>(in, false, thr);
      EXPECT_EQ(int64_values(ops::nms(in.boxes, in.scores, thr)), want) << n << " boxes, threshold " << thr;
      const auto in64 = clustered_boxes(n, std::max<int64_t>(1, n / 8), 1, 10 + n, DType::kF64);
      EXPECT_EQ(int64_values(ops::nms(in64.boxes, in64.scores, thr)), reference<double>(in64, false, thr))
          << n << " boxes in f64, threshold " << thr;
    }
  }
}

TEST(Nms, HandCases) {
  // Box 1 overlaps box 0 with IoU exactly 0.5: kept at threshold 0.5 (strict), suppressed below.
  // Box 2 is disjoint from both.
  const Tensor boxes = f32({3, 4}, {0, 0, 10, 10, 0, 0, 10, 5, 20, 20, 30, 30});
  const Tensor scores = f32({3}, {0.9f, 0.8f, 0.7f});
  EXPECT_EQ(int64_values(ops::nms(boxes, scores, 0.5)), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(int64_values(ops::nms(boxes, scores, 0.49)), (std::vector<int64_t>{0, 2}));
  // The lower score suppresses nothing that outranks it: order follows the scores, not indices.
  const Tensor rev = f32({3}, {0.1f, 0.8f, 0.7f});
  EXPECT_EQ(int64_values(ops::nms(boxes, rev, 0.49)), (std::vector<int64_t>{1, 2}));
  // Touching boxes and zero-area boxes have IoU 0; identical zero-area boxes have union 0 -> 0.
  const Tensor flat = f32({3, 4}, {0, 0, 10, 10, 10, 0, 20, 10, 5, 5, 5, 5});
  EXPECT_EQ(int64_values(ops::nms(flat, scores, 0.0)), (std::vector<int64_t>{0, 1, 2}));
  const Tensor points = f32({2, 4}, {5, 5, 5, 5, 5, 5, 5, 5});
  EXPECT_EQ(int64_values(ops::nms(points, f32({2}, {0.5f, 0.5f}), 0.0)), (std::vector<int64_t>{0, 1}));
}

TEST(Nms, EqualScoresKeepTheLowerIndex) {
  // Four copies of one box with equal scores (and -0 against +0): the lowest index survives.
  const Tensor boxes = f32({4, 4}, {1, 1, 9, 9, 1, 1, 9, 9, 1, 1, 9, 9, 1, 1, 9, 9});
  EXPECT_EQ(int64_values(ops::nms(boxes, f32({4}, {0.5f, 0.5f, 0.5f, 0.5f}), 0.5)), (std::vector<int64_t>{0}));
  EXPECT_EQ(int64_values(ops::nms(boxes, f32({4}, {0.2f, 0.5f, 0.5f, 0.2f}), 0.5)), (std::vector<int64_t>{1}));
  EXPECT_EQ(int64_values(ops::nms(boxes, f32({4}, {-0.0f, 0.0f, -0.0f, 0.0f}), 0.5)), (std::vector<int64_t>{0}));
}

TEST(Nms, NanScoresRankLast) {
  // Disjoint boxes: all kept, NaN scores after -inf, among themselves by index.
  const Tensor boxes = f32({5, 4}, {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9});
  EXPECT_EQ(int64_values(ops::nms(boxes, f32({5}, {kNan, 0.1f, -kInf, kNan, 0.3f}), 0.5)),
            (std::vector<int64_t>{4, 1, 2, 0, 3}));
  // A NaN-scored box is suppressed by any overlapping scored box, and suppresses later NaN ones.
  const Tensor same = f32({3, 4}, {0, 0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4});
  EXPECT_EQ(int64_values(ops::nms(same, f32({3}, {kNan, kNan, -5.0f}), 0.5)), (std::vector<int64_t>{2}));
  EXPECT_EQ(int64_values(ops::nms(same.slice(0, 2), f32({2}, {kNan, kNan}), 0.5)), (std::vector<int64_t>{0}));
}

TEST(Nms, NanCoordinatesNeitherSuppressNorAreSuppressed) {
  const Tensor boxes = f32({3, 4}, {0, 0, 4, 4, kNan, 0, 4, 4, 0, 0, 4, 4});
  EXPECT_EQ(int64_values(ops::nms(boxes, f32({3}, {0.9f, 0.8f, 0.7f}), 0.5)), (std::vector<int64_t>{0, 1}));
}

TEST(Nms, MaxCandidatesPreselectsTheBestScores) {
  const auto in = clustered_boxes(3000, 300, 1, 3);
  for (int64_t m : {0, 1, 100, 1000, 2999, 3000, 5000}) {
    ops::NmsOptions opt;
    opt.max_candidates = m;
    EXPECT_EQ(int64_values(ops::nms(in.boxes, in.scores, 0.5, opt)), reference<float>(in, false, 0.5, m)) << m;
  }
}

TEST(Nms, EmptyInputGivesAnEmptyKeepList) {
  const Tensor keep = ops::nms(Tensor::empty({0, 4}), Tensor::empty({0}), 0.5);
  EXPECT_EQ(keep.shape(), (Shape{0}));
  EXPECT_EQ(keep.dtype(), DType::kI64);
  EXPECT_EQ(ops::batched_nms(Tensor::empty({0, 4}), Tensor::empty({0}), Tensor::empty({0}, DType::kI32), 0.5).numel(),
            0);
}

TEST(BatchedNms, PathsAgreeAndEqualOneNmsPerClass) {
  for (int64_t n : {5, 200, 1000, 1001, 4000}) {
    for (int64_t classes : {1, 3, 80}) {
      const auto in = clustered_boxes(n, std::max<int64_t>(1, n / 10), classes, 100 + n + classes);
      const std::vector<int64_t> want = reference<float>(in, true, 0.5);
      for (auto path :
           {ops::BatchedNmsPath::kAuto, ops::BatchedNmsPath::kCoordinateTrick, ops::BatchedNmsPath::kPerClass}) {
        ops::NmsOptions opt;
        opt.path = path;
        EXPECT_EQ(int64_values(ops::batched_nms(in.boxes, in.scores, in.class_ids, 0.5, opt)), want)
            << n << " boxes, " << classes << " classes, path " << static_cast<int>(path);
      }
      // One plain NMS per class, merged by score: the definition.
      std::vector<std::pair<uint32_t, int64_t>> merged;
      for (int64_t c = 0; c < classes; ++c) {
        std::vector<int64_t> members;
        for (int64_t i = 0; i < n; ++i) {
          if (in.class_ids.data<int64_t>()[i] == c) members.push_back(i);
        }
        Tensor b = Tensor::empty({static_cast<int64_t>(members.size()), 4}),
               s = Tensor::empty({static_cast<int64_t>(members.size())});
        for (size_t k = 0; k < members.size(); ++k) {
          std::copy_n(in.boxes.data<float>() + 4 * members[k], 4, b.data<float>() + 4 * k);
          s.data<float>()[k] = in.scores.data<float>()[members[k]];
        }
        for (int64_t k : int64_values(ops::nms(b, s, 0.5))) {
          merged.push_back({ops::score_key(s.data<float>()[k]), members[static_cast<size_t>(k)]});
        }
      }
      std::sort(merged.begin(), merged.end());
      std::vector<int64_t> per_class;
      for (const auto& m : merged) per_class.push_back(m.second);
      EXPECT_EQ(per_class, want) << n << " boxes, " << classes << " classes";
    }
  }
}

TEST(BatchedNms, F64PathsAgree) {
  const auto in = clustered_boxes(2500, 250, 7, 17, DType::kF64);
  const std::vector<int64_t> want = reference<double>(in, true, 0.5);
  for (auto path : {ops::BatchedNmsPath::kCoordinateTrick, ops::BatchedNmsPath::kPerClass}) {
    ops::NmsOptions opt;
    opt.path = path;
    EXPECT_EQ(int64_values(ops::batched_nms(in.boxes, in.scores, in.class_ids, 0.5, opt)), want);
  }
}

TEST(BatchedNms, ClassIdsMayBeI32OrNegative) {
  const auto in = clustered_boxes(1500, 100, 5, 7);
  Tensor i32 = Tensor::empty({1500}, DType::kI32), shifted = in.class_ids.clone();
  for (int64_t i = 0; i < 1500; ++i) {
    i32.data<int32_t>()[i] = static_cast<int32_t>(in.class_ids.data<int64_t>()[i]);
    shifted.data<int64_t>()[i] -= int64_t{1} << 40;
  }
  const std::vector<int64_t> want = reference<float>(in, true, 0.6);
  for (auto path : {ops::BatchedNmsPath::kCoordinateTrick, ops::BatchedNmsPath::kPerClass}) {
    ops::NmsOptions opt;
    opt.path = path;
    EXPECT_EQ(int64_values(ops::batched_nms(in.boxes, in.scores, i32, 0.6, opt)), want);
    EXPECT_EQ(int64_values(ops::batched_nms(in.boxes, in.scores, shifted, 0.6, opt)), want);
  }
}

TEST(BatchedNms, PreselectionThenClasses) {
  const auto in = clustered_boxes(3000, 200, 10, 8);
  ops::NmsOptions opt;
  opt.max_candidates = 1200;
  for (auto path : {ops::BatchedNmsPath::kCoordinateTrick, ops::BatchedNmsPath::kPerClass}) {
    opt.path = path;
    EXPECT_EQ(int64_values(ops::batched_nms(in.boxes, in.scores, in.class_ids, 0.5, opt)),
              reference<float>(in, true, 0.5, 1200));
  }
}

TEST(BatchedNms, KeepListDoesNotDependOnThreads) {
  const auto in = clustered_boxes(6000, 600, 20, 9);
  const int saved = omp_get_max_threads();
  std::vector<int64_t> got[2];
  for (int t = 0; t < 2; ++t) {
    omp_set_num_threads(t == 0 ? 1 : 3);
    got[t] = int64_values(ops::batched_nms(in.boxes, in.scores, in.class_ids, 0.5));
  }
  omp_set_num_threads(saved);
  EXPECT_EQ(got[0], got[1]);
}

TEST(Nms, BadArgumentsThrowNamingOpAndArgument) {
  const Tensor b = Tensor::zeros({3, 4}), s = Tensor::zeros({3});
  test::expect_error([&] { ops::nms(Tensor::zeros({3, 5}), s, 0.5); }, {"nms: boxes", "[3,4]", "[3,5]"});
  test::expect_error([&] { ops::nms(Tensor::zeros({12}), s, 0.5); }, {"nms: boxes", "[N,4]"});
  test::expect_error([&] { ops::nms(b, Tensor::zeros({4}), 0.5); }, {"nms: scores", "[3]", "[4]"});
  test::expect_error([&] { ops::nms(b, Tensor::zeros({3}, DType::kF64), 0.5); }, {"nms: scores", "f32", "f64"});
  test::expect_error([&] { ops::nms(Tensor::zeros({3, 4}, DType::kI32), s, 0.5); }, {"nms: boxes", "i32"});
  test::expect_error([&] { ops::nms(b, s, std::nan("")); }, {"nms: iou_threshold", "NaN"});
  ops::NmsOptions opt;
  opt.max_candidates = -2;
  test::expect_error([&] { ops::nms(b, s, 0.5, opt); }, {"nms: options.max_candidates", "-2"});
  test::expect_error([&] { ops::batched_nms(b, s, Tensor::zeros({3}), 0.5); }, {"batched_nms: class_ids", "f32"});
  test::expect_error([&] { ops::batched_nms(b, s, Tensor::zeros({2}, DType::kI64), 0.5); },
                     {"batched_nms: class_ids", "[3]", "[2]"});
}

TEST(TopkIndices, MatchesAFullSortWithTiesAndNan) {
  Tensor s = test::random_tensor({5000}, DType::kF32, 11);
  for (int64_t i = 0; i < 5000; i += 7) s.data<float>()[i] = 0.25f;  // ties
  s.data<float>()[17] = kNan;
  s.data<float>()[3] = -0.0f;
  s.data<float>()[4] = 0.0f;
  std::vector<int64_t> order(5000);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return ops::score_key(s.data<float>()[a]) < ops::score_key(s.data<float>()[b]);
  });
  EXPECT_EQ(order.back(), 17);
  for (int64_t k : {0, 1, 10, 2000, 4999, 5000, 9000}) {
    const std::vector<int64_t> want(order.begin(), order.begin() + std::min<int64_t>(k, 5000));
    EXPECT_EQ(int64_values(ops::topk_indices(s, k)), want) << k;
  }
  const Tensor s64 = test::to_dtype(s, DType::kF64);
  EXPECT_EQ(int64_values(ops::topk_indices(s64, 300)), std::vector<int64_t>(order.begin(), order.begin() + 300));
  test::expect_error([&] { ops::topk_indices(s, -1); }, {"topk_indices: k", "-1"});
  test::expect_error([&] { ops::topk_indices(s.view({50, 100}), 3); }, {"topk_indices: scores", "[N]"});
}

// torchvision's nms and batched_nms on the same inputs (distinct scores, since torchvision orders
// equal scores as its sort happens to): the keep lists must be identical.
TEST(Nms, MatchesTorchvision) {
  if (std::system("/usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 with torch and torchvision not available";
  }
  const std::string dir = test::temp_dir();
  struct Run {
    int64_t n, classes;
    double thr;
  };
  const std::vector<Run> runs = {{500, 1, 0.5}, {3000, 1, 0.3}, {3000, 1, 0.7}, {800, 20, 0.5}, {4000, 80, 0.5}};
  std::vector<test::DetectionInputs> inputs;
  std::string cmd = "/usr/bin/python3 " + test::source_dir() + "/tests/ops/nms_torchvision.py";
  for (size_t r = 0; r < runs.size(); ++r) {
    inputs.push_back(clustered_boxes(runs[r].n, runs[r].n / 6, runs[r].classes, 40 + r, DType::kF32, true));
    const auto& in = inputs.back();
    const std::string base = dir + "/case" + std::to_string(r);
    for (const auto& [ext, t] : {std::pair{".boxes", in.boxes}, {".scores", in.scores}, {".classes", in.class_ids}}) {
      std::ofstream(base + ext, std::ios::binary).write(static_cast<const char*>(t.raw_data()), t.nbytes());
    }
    cmd += " " + base + " " + std::to_string(runs[r].thr) + (runs[r].classes > 1 ? " batched" : " plain");
  }
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (size_t r = 0; r < runs.size(); ++r) {
    const auto& in = inputs[r];
    std::ifstream keep_file(dir + "/case" + std::to_string(r) + ".keep", std::ios::binary | std::ios::ate);
    const auto bytes = static_cast<int64_t>(keep_file.tellg());
    std::vector<int64_t> theirs(static_cast<size_t>(bytes / 8));
    keep_file.seekg(0);
    keep_file.read(reinterpret_cast<char*>(theirs.data()), bytes);
    const Tensor ours = runs[r].classes > 1 ? ops::batched_nms(in.boxes, in.scores, in.class_ids, runs[r].thr)
                                            : ops::nms(in.boxes, in.scores, runs[r].thr);
    EXPECT_EQ(int64_values(ours), theirs) << runs[r].n << " boxes, " << runs[r].classes << " classes";
  }
}

}  // namespace
}  // namespace attncamp
