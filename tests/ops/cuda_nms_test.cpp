// Parity tests of the CUDA detection selection ops against their CPU references: NMS, batched NMS
// (both paths), top-k selection, proposal matching and balanced sampling. All outputs are integers
// and go through the parity harness (tests/ops/parity.h), which compares them exactly, element for
// element, after poisoning them. The ops allocate their results, so each case learns the result's
// size from the CPU first and copies the op's result into the harness's output slot (a size that
// differs fails the case). Without a GPU every test skips, saying why.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ops/matching.h"
#include "ops/matching_sampler.h"
#include "ops/nms.h"
#include "ops/nms_topk.h"
#include "tests/cuda_test_util.h"
#include "tests/ops/nms_test_data.h"
#include "tests/ops/parity.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::clustered_boxes;
using test::in;
using test::int_in;
using test::int_out;
using test::ParityRun;

const std::vector<DType> kF32 = {DType::kF32};
const test::Tolerance kExact{};  // integer outputs only: compared exactly

// Copies `result` into the harness's output slot `out` (same size), or fails.
void put(const Tensor& result, Tensor& out, const char* what) {
  if (result.numel() != out.numel()) {
    ADD_FAILURE() << what << ": " << result.numel() << " elements on " << result.device().str() << ", the CPU has "
                  << out.numel();
    return;
  }
  EXPECT_EQ(result.device(), out.device()) << what;
  out.copy_from(result.view(out.shape()));
}

std::string str(const char* op, int64_t n, const std::string& rest) {
  return std::string(op) + " " + std::to_string(n) + rest;
}

// Slots: boxes, scores, [class_ids], keep.
void nms_case(const std::string& name, const test::DetectionInputs& inputs, const Tensor* class_ids, double thr,
              const ops::NmsOptions& opt) {
  const int64_t k = class_ids != nullptr ? ops::batched_nms(inputs.boxes, inputs.scores, *class_ids, thr, opt).numel()
                                         : ops::nms(inputs.boxes, inputs.scores, thr, opt).numel();
  std::vector<test::Slot> slots = {test::misaligned(in("boxes", inputs.boxes), 1), in("scores", inputs.scores)};
  if (class_ids != nullptr) slots.push_back(int_in("class_ids", *class_ids));
  slots.push_back(int_out("keep", {k}, DType::kI64));
  const bool batched = class_ids != nullptr;
  test::check_parity({name, kF32, kExact, slots, [=](std::vector<Tensor>& t, const ParityRun&) {
                        const Tensor keep =
                            batched ? ops::batched_nms(t[0], t[1], t[2], thr, opt) : ops::nms(t[0], t[1], thr, opt);
                        put(keep, t.back(), "keep");
                      }});
}

TEST(NmsParity, ClusteredBoxes) {
  ATTNCAMP_REQUIRE_GPU();
  for (int64_t n : {1, 64, 65, 1000, 5000, 20000}) {
    for (double thr : {0.5, 0.7}) {
      const auto inputs = clustered_boxes(n, std::max<int64_t>(1, n / 10), 1, 200 + n);
      nms_case(str("nms", n, " threshold " + std::to_string(thr)), inputs, nullptr, thr, {});
    }
  }
}

TEST(NmsParity, TiesNanScoresAndPreselection) {
  ATTNCAMP_REQUIRE_GPU();
  auto inputs = clustered_boxes(3000, 300, 1, 9);
  float* s = inputs.scores.data<float>();
  for (int64_t i = 0; i < 3000; ++i) {
    if (i % 4 == 0) s[i] = 0.5f;                                      // ties
    if (i % 13 == 0) s[i] = std::numeric_limits<float>::quiet_NaN();  // NaN last
    if (i % 17 == 0) s[i] = i % 2 == 0 ? 0.0f : -0.0f;                // -0 ties +0
  }
  nms_case("nms ties and NaN", inputs, nullptr, 0.5, {});
  for (int64_t m : {0, 1, 700, 2999}) {
    ops::NmsOptions opt;
    opt.max_candidates = m;
    nms_case(str("nms max_candidates", m, ""), inputs, nullptr, 0.5, opt);
  }
}

TEST(BatchedNmsParity, BothPathsAndAuto) {
  ATTNCAMP_REQUIRE_GPU();
  for (int64_t n : {100, 5000, 5001, 20000}) {
    for (int64_t classes : {1, 80}) {
      const auto inputs = clustered_boxes(n, std::max<int64_t>(1, n / 10), classes, 300 + n + classes);
      Tensor i32 = Tensor::empty({n}, DType::kI32);
      for (int64_t i = 0; i < n; ++i)
        i32.data<int32_t>()[i] = static_cast<int32_t>(inputs.class_ids.data<int64_t>()[i]);
      for (auto path :
           {ops::BatchedNmsPath::kAuto, ops::BatchedNmsPath::kCoordinateTrick, ops::BatchedNmsPath::kPerClass}) {
        ops::NmsOptions opt;
        opt.path = path;
        const std::string name =
            str("batched_nms", n,
                " " + std::to_string(classes) + " classes path " + std::to_string(static_cast<int>(path)));
        nms_case(name, inputs, &inputs.class_ids, 0.5, opt);
        if (path == ops::BatchedNmsPath::kPerClass) nms_case(name + " i32", inputs, &i32, 0.5, opt);
      }
    }
  }
}

TEST(BatchedNmsParity, PreselectionThenClasses) {
  ATTNCAMP_REQUIRE_GPU();
  const auto inputs = clustered_boxes(30000, 3000, 80, 11);
  for (auto path : {ops::BatchedNmsPath::kCoordinateTrick, ops::BatchedNmsPath::kPerClass}) {
    ops::NmsOptions opt;
    opt.path = path;
    opt.max_candidates = 6000;
    nms_case("batched_nms 30000 top 6000 path " + std::to_string(static_cast<int>(path)), inputs, &inputs.class_ids,
             0.6, opt);
  }
}

TEST(TopkIndicesParity, TiesNanAndSizes) {
  ATTNCAMP_REQUIRE_GPU();
  for (int64_t n : {1, 1000, 100000}) {
    Tensor s = test::random_tensor({n}, DType::kF32, 40 + n);
    for (int64_t i = 0; i < n; i += 3) s.data<float>()[i] = 0.25f;
    if (n > 10) s.data<float>()[7] = std::numeric_limits<float>::quiet_NaN();
    for (int64_t k : {int64_t{1}, int64_t{2000}, n + 5}) {
      const int64_t m = std::min(k, n);
      test::check_parity(
          {str("topk_indices", n, " k " + std::to_string(k)),
           kF32,
           kExact,
           {in("scores", s), int_out("indices", {m}, DType::kI64)},
           [k](std::vector<Tensor>& t, const ParityRun&) { put(ops::topk_indices(t[0], k), t[1], "indices"); }});
    }
  }
}

TEST(MatchProposalsParity, ThresholdsTiesAndLowQuality) {
  ATTNCAMP_REQUIRE_GPU();
  for (int64_t G : {0, 1, 3, 100}) {
    for (int64_t P : {1, 2000, 120000}) {
      const Tensor iou = test::quality_matrix(G, P, 50 + G + P);
      for (bool allow : {false, true}) {
        ops::MatcherOptions o;
        o.high_threshold = 0.625;
        o.low_threshold = 0.25;
        o.allow_low_quality_matches = allow;
        test::check_parity(
            {"match_proposals " + std::to_string(G) + "x" + std::to_string(P) + (allow ? " low quality" : ""),
             kF32,
             kExact,
             {in("iou", iou), int_out("matches", {P}, DType::kI64)},
             [o](std::vector<Tensor>& t, const ParityRun&) { ops::match_proposals(t[0], o, t[1]); }});
      }
    }
  }
}

TEST(BalancedSampleParity, CountsAndDraws) {
  ATTNCAMP_REQUIRE_GPU();
  for (int64_t n : {1, 300, 200000}) {
    for (int64_t positives_per_8 : {0, 1, 3}) {
      Tensor labels = Tensor::empty({n}, DType::kI64);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = (i * 5) % 8;
        labels.data<int64_t>()[i] = r < positives_per_8 ? 1 + i % 4 : r < positives_per_8 + 3 ? 0 : -1;
      }
      Tensor i32 = Tensor::empty({n}, DType::kI32);
      for (int64_t i = 0; i < n; ++i) i32.data<int32_t>()[i] = static_cast<int32_t>(labels.data<int64_t>()[i]);
      for (int64_t batch : {64, 512}) {
        ops::SamplerOptions o;
        o.batch_size_per_image = batch;
        o.positive_fraction = 0.25;
        const ops::SampleKey key{3, static_cast<uint64_t>(n + batch), 1};
        const ops::BalancedSample cpu = ops::balanced_sample(labels, o, key);
        for (const Tensor* l : {&labels, &i32}) {
          test::check_parity(
              {str("balanced_sample", n, " batch " + std::to_string(batch) + " " + dtype_name(l->dtype())),
               kF32,
               kExact,
               {int_in("labels", *l), int_out("positive", {cpu.positive.numel()}, DType::kI64),
                int_out("negative", {cpu.negative.numel()}, DType::kI64)},
               [o, key](std::vector<Tensor>& t, const ParityRun&) {
                 const ops::BalancedSample s = ops::balanced_sample(t[0], o, key);
                 put(s.positive, t[1], "positive");
                 put(s.negative, t[2], "negative");
               }});
        }
      }
    }
  }
}

TEST(NmsCuda, RepeatedCallsAndTheLargestInput) {
  ATTNCAMP_REQUIRE_GPU();
  const auto inputs = clustered_boxes(100000, 10000, 80, 12);
  const Tensor boxes = inputs.boxes.to(Device::cuda(0)), scores = inputs.scores.to(Device::cuda(0));
  const Tensor classes = inputs.class_ids.to(Device::cuda(0));
  ops::NmsOptions opt;
  opt.max_candidates = 40000;
  const std::vector<int64_t> first = test::int64_values(ops::nms(boxes, scores, 0.5, opt));
  EXPECT_EQ(test::int64_values(ops::nms(boxes, scores, 0.5, opt)), first);
  EXPECT_EQ(first, test::int64_values(ops::nms(inputs.boxes, inputs.scores, 0.5, opt)));
  EXPECT_EQ(test::int64_values(ops::batched_nms(boxes, scores, classes, 0.5)),
            test::int64_values(ops::batched_nms(inputs.boxes, inputs.scores, inputs.class_ids, 0.5)));
  const Tensor empty = ops::nms(boxes.slice(0, 0), scores.slice(0, 0), 0.5);
  EXPECT_EQ(empty.shape(), (Shape{0}));
  EXPECT_EQ(empty.device(), Device::cuda(0));
  const int64_t too_many = ops::kMaxNmsBoxesCuda + 1;
  const Tensor big_boxes = Tensor::zeros({too_many, 4}, DType::kF32, Device::cuda(0));
  const Tensor big_scores = Tensor::zeros({too_many}, DType::kF32, Device::cuda(0));
  test::expect_error([&] { ops::nms(big_boxes, big_scores, 0.5); }, {"nms: boxes on CUDA", "max_candidates"});
}

}  // namespace
}  // namespace attncamp
