// Tests for the box ops of ops/boxes.h on the CPU: IoU and GIoU by hand (with the degenerate cases
// ops/boxes.h defines), against torchvision and across thread counts; conversions, clipping and the
// small-box filter against torchvision bit for bit in f32; check_boxes' messages; bad arguments.
#include "ops/boxes.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tests/cuda_test_util.h"
#include "tests/ops/box_test_util.h"
#include "tests/ops/parity.h"
#include "tests/ops/torch_reference.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using ops::BoxFormat;
using test::box_tensor;
using test::expect_error;
using test::random_boxes;

constexpr double kF64Tol = 1e-14;  // IoU/GIoU in double against a formula or torchvision in f64
constexpr double kF32Tol = 1e-6;   // IoU/GIoU values in [-1, 1] rounded to f32 against f64
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

Tensor pairwise(const Tensor& a, const Tensor& b, bool generalized) {
  Tensor out = Tensor::empty({a.size(0), b.size(0)}, a.dtype());
  out.poison();
  generalized ? ops::generalized_box_iou(a, b, out) : ops::box_iou(a, b, out);
  return out;
}

double at(const Tensor& t, int64_t i) { return test::to_dtype(t, DType::kF64).data<double>()[i]; }

TEST(BoxIou, HandValuesAndDegenerateBoxes) {
  const Tensor a = box_tensor({{0, 0, 10, 10},  // overlaps b0 by 5 x 5
                               {0, 0, 1, 1},    // touches b1 along x = 1
                               {3, 3, 3, 3},    // an empty point box ...
                               {0, 0, 0, 5},    // an empty line box ...
                               {2, 2, 2, 2}});
  const Tensor b = box_tensor({{5, 5, 15, 15}, {1, 0, 2, 1}, {3, 3, 3, 3}, {0, 0, 0, 5}, {0, 0, 10, 10}});
  const Tensor iou = pairwise(a, b, false), giou = pairwise(a, b, true);
  const int64_t m = b.size(0);
  // Overlap: inter 25, union 175, enclosing 225.
  EXPECT_NEAR(at(iou, 0 * m + 0), 25.0 / 175, kF64Tol);
  EXPECT_NEAR(at(giou, 0 * m + 0), 25.0 / 175 - 50.0 / 225, kF64Tol);
  // Touching: inter 0, union 2, enclosing 2.
  EXPECT_EQ(at(iou, 1 * m + 1), 0.0);
  EXPECT_EQ(at(giou, 1 * m + 1), 0.0);
  // ... equal to itself: union 0 and enclosing 0, so IoU = GIoU = 0 (torchvision: NaN).
  EXPECT_EQ(at(iou, 2 * m + 2), 0.0);
  EXPECT_EQ(at(giou, 2 * m + 2), 0.0);
  EXPECT_EQ(at(iou, 3 * m + 3), 0.0);
  EXPECT_EQ(at(giou, 3 * m + 3), 0.0);
  // ... apart from another empty box: union 0, enclosing 1 x 1 -> GIoU -1.
  EXPECT_EQ(at(iou, 4 * m + 2), 0.0);
  EXPECT_EQ(at(giou, 4 * m + 2), -1.0);
  // An empty box inside a 10 x 10 box: union 100, enclosing 100 -> 0 and 0.
  EXPECT_EQ(at(iou, 2 * m + 4), 0.0);
  EXPECT_EQ(at(giou, 2 * m + 4), 0.0);
  // A line box on the edge of the 10 x 10 box: GIoU 0 too.
  EXPECT_EQ(at(giou, 3 * m + 4), 0.0);
}

TEST(BoxIou, SymmetricBoundedAndF32MatchesF64) {
  const Tensor a = random_boxes(37, 1, DType::kF64, 60, 0, 40, 9), b = random_boxes(23, 2, DType::kF64, 60, 0, 40, 7);
  for (bool generalized : {false, true}) {
    const Tensor ab = pairwise(a, b, generalized), ba = pairwise(b, a, generalized);
    for (int64_t i = 0; i < 37; ++i) {
      for (int64_t j = 0; j < 23; ++j) {
        const double v = ab.data<double>()[i * 23 + j];
        EXPECT_EQ(v, ba.data<double>()[j * 37 + i]);
        EXPECT_GE(v, generalized ? -1.0 : 0.0);
        EXPECT_LE(v, 1.0);
      }
    }
    const Tensor f32 = pairwise(test::to_dtype(a, DType::kF32), test::to_dtype(b, DType::kF32), generalized);
    EXPECT_LE(test::max_abs_diff(f32, ab), kF32Tol);
  }
  EXPECT_EQ(at(pairwise(a.slice(4, 5), a.slice(4, 5), false), 0), 1.0);  // a non-empty box with itself
}

TEST(BoxIou, DeterministicAcrossThreadCounts) {
  const Tensor a = random_boxes(300, 3, DType::kF32), b = random_boxes(70, 4, DType::kF32);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const Tensor one = pairwise(a, b, true);
  omp_set_num_threads(3);
  const Tensor three = pairwise(a, b, true);
  omp_set_num_threads(saved);
  EXPECT_EQ(test::max_abs_diff(one, three), 0.0);
}

// torchvision's box_iou and generalized_box_iou in f64 on boxes of which a few are empty (never
// two empty ones in one pair, where torchvision gives NaN).
TEST(BoxIou, MatchesTorchvision) {
  ATTNCAMP_REQUIRE_TORCH();
  const Tensor a = random_boxes(41, 5, DType::kF64, 80, 0, 30, 8), b = random_boxes(19, 6, DType::kF64, 80, 0.5, 30);
  const auto ref = test::run_torch(R"PY(
from torchvision.ops import box_iou, generalized_box_iou
a, b = load("a"), load("b")
save("iou", box_iou(a, b))
save("giou", generalized_box_iou(a, b))
)PY",
                                   {{"a", a}, {"b", b}}, {"iou", "giou"});
  ASSERT_EQ(ref.size(), 2u);
  EXPECT_LE(test::max_abs_diff(pairwise(a, b, false), ref.at("iou")), kF64Tol);
  EXPECT_LE(test::max_abs_diff(pairwise(a, b, true), ref.at("giou")), kF64Tol);
}

Tensor converted(const Tensor& boxes, BoxFormat from, BoxFormat to) {
  Tensor out = Tensor::empty(boxes.shape(), boxes.dtype());
  out.poison();
  ops::box_convert(boxes, from, to, out);
  return out;
}

constexpr BoxFormat kFormats[] = {BoxFormat::kXyxy, BoxFormat::kXywh, BoxFormat::kCxcywh};

TEST(BoxConvert, HandValuesRoundTripsAndInPlace) {
  const Tensor xyxy = box_tensor({{1, 2, 5, 10}});
  EXPECT_EQ(test::max_abs_diff(converted(xyxy, BoxFormat::kXyxy, BoxFormat::kXywh), box_tensor({{1, 2, 4, 8}})), 0.0);
  EXPECT_EQ(test::max_abs_diff(converted(xyxy, BoxFormat::kXyxy, BoxFormat::kCxcywh), box_tensor({{3, 6, 4, 8}})), 0.0);
  EXPECT_EQ(test::max_abs_diff(converted(box_tensor({{3, 6, 4, 8}}), BoxFormat::kCxcywh, BoxFormat::kXywh),
                               box_tensor({{1, 2, 4, 8}})),
            0.0);
  const Tensor boxes = random_boxes(50, 7, DType::kF64, 100, 1, 50, 0, true);  // 1/64 grid: exact
  for (BoxFormat from : kFormats) {
    for (BoxFormat to : kFormats) {
      const Tensor there = converted(converted(boxes, BoxFormat::kXyxy, from), from, to);
      EXPECT_EQ(test::max_abs_diff(converted(there, to, BoxFormat::kXyxy), boxes), 0.0)
          << ops::box_format_name(from) << " -> " << ops::box_format_name(to);
      Tensor in_place = converted(boxes, BoxFormat::kXyxy, from);
      const Tensor want = converted(in_place, from, to);
      ops::box_convert(in_place, from, to, in_place);
      EXPECT_EQ(test::max_abs_diff(in_place, want), 0.0);
    }
  }
}

// `names` and "<from>_<to>" for every pair of formats.
std::vector<std::string> conversion_names(std::vector<std::string> names) {
  for (BoxFormat from : kFormats) {
    for (BoxFormat to : kFormats)
      names.push_back(std::string(ops::box_format_name(from)) + "_" + ops::box_format_name(to));
  }
  return names;
}

// Conversions and clipping in f32 against torchvision's in f32, bit for bit (values off the 1/64
// grid, so the sums round).
TEST(Boxes, ConvertClipAndSmallBoxesMatchTorchvisionInF32) {
  ATTNCAMP_REQUIRE_TORCH();
  Tensor boxes = random_boxes(64, 8, DType::kF32, 120, 0, 60, 11);
  boxes.data<float>()[5] = -3.25f;   // outside the image on each side
  boxes.data<float>()[10] = 130.5f;  // x2 of box 2
  boxes.data<float>()[15] = 101.0f;  // y2 of box 3
  const auto ref = test::run_torch(R"PY(
from torchvision.ops import box_convert, clip_boxes_to_image, remove_small_boxes
b = load("boxes").float()
fmts = ["xyxy", "xywh", "cxcywh"]
for f in fmts:
    for t in fmts:
        save(f + "_" + t, box_convert(box_convert(b, "xyxy", f), f, t))
save("clip", clip_boxes_to_image(b, (100, 120)))
save("keep", remove_small_boxes(b, 10.3))
)PY",
                                   {{"boxes", boxes}}, conversion_names({"clip", "keep"}));
  ASSERT_EQ(ref.size(), 11u);
  for (BoxFormat from : kFormats) {
    for (BoxFormat to : kFormats) {
      const std::string name = std::string(ops::box_format_name(from)) + "_" + ops::box_format_name(to);
      EXPECT_EQ(test::max_abs_diff(converted(converted(boxes, BoxFormat::kXyxy, from), from, to), ref.at(name)), 0.0)
          << name;
    }
  }
  Tensor clipped = Tensor::empty(boxes.shape());
  ops::clip_boxes_to_image(boxes, 100, 120, clipped);
  EXPECT_EQ(test::max_abs_diff(clipped, ref.at("clip")), 0.0);
  const Tensor keep = ops::remove_small_boxes(boxes, 10.3);
  ASSERT_EQ(keep.numel(), ref.at("keep").numel());
  for (int64_t i = 0; i < keep.numel(); ++i) EXPECT_EQ(keep.data<int64_t>()[i], ref.at("keep").data<double>()[i]);
}

TEST(ClipBoxes, ClampsEachCoordinateInPlaceAndKeepsNaN) {
  Tensor boxes = box_tensor({{-5, -1, 50, 30}, {10, 20, 30, 40}, {kNaN, 3, 7, kInf}}, DType::kF32);
  ops::clip_boxes_to_image(boxes, 25, 40, boxes);
  const Tensor want = box_tensor({{0, 0, 40, 25}, {10, 20, 30, 25}, {kNaN, 3, 7, 25}}, DType::kF32);
  EXPECT_TRUE(test::same_elements(test::to_dtype(boxes, DType::kF64), test::to_dtype(want, DType::kF64)));
}

TEST(RemoveSmallBoxes, KeepsAscendingIndicesOfBoxesWithBothSidesLargeEnough) {
  const Tensor boxes = box_tensor({{0, 0, 5, 5},      // kept
                                   {0, 0, 4.9, 9},    // too narrow
                                   {0, 0, 9, 4.99},   // too low
                                   {1, 1, 6, 6},      // exactly 5: kept
                                   {kNaN, 0, 9, 9},   // NaN: removed
                                   {9, 0, 0, 9},      // x2 < x1: removed
                                   {0, 0, 100, 100}}  // kept
  );
  for (DType dt : {DType::kF32, DType::kF64}) {
    const Tensor keep = ops::remove_small_boxes(test::to_dtype(boxes, dt), 5.0);
    ASSERT_EQ(keep.dtype(), DType::kI64);
    ASSERT_EQ(keep.shape(), Shape({3}));
    EXPECT_EQ(keep.data<int64_t>()[0], 0);
    EXPECT_EQ(keep.data<int64_t>()[1], 3);
    EXPECT_EQ(keep.data<int64_t>()[2], 6);
  }
  const Tensor none = ops::remove_small_boxes(boxes, 1000.0);
  EXPECT_EQ(none.shape(), Shape({0}));
  EXPECT_EQ(none.dtype(), DType::kI64);
  EXPECT_EQ(ops::remove_small_boxes(Tensor::empty({0, 4}), 1.0).shape(), Shape({0}));
  // min_size is rounded to f32 for f32 boxes: a width of 0.7f (< 0.7) passes min_size 0.7.
  EXPECT_EQ(ops::remove_small_boxes(box_tensor({{0, 0, 0.7, 0.7}}, DType::kF32), 0.7).numel(), 1);
  EXPECT_EQ(ops::remove_small_boxes(box_tensor({{0, 0, 0.7, 0.7}}, DType::kF64), 0.7).numel(), 1);
}

TEST(CheckBoxes, NamesTheRoleTheFirstBadIndexAndWhy) {
  Tensor boxes = random_boxes(40, 9, DType::kF32, 100, 0, 20, 5);
  EXPECT_NO_THROW(ops::check_boxes(boxes, "gt_boxes"));
  EXPECT_NO_THROW(ops::check_boxes(Tensor::empty({0, 4}), "gt_boxes"));
  float* v = boxes.data<float>();
  v[4 * 30 + 3] = v[4 * 30 + 1] - 1;  // box 30: y2 < y1
  expect_error([&] { ops::check_boxes(boxes, "gt_boxes of image 7"); },
               {"check_boxes", "gt_boxes of image 7 box 30 of 40", "y2 < y1"});
  v[4 * 17 + 0] = v[4 * 17 + 2] + 0.5f;  // box 17: x2 < x1
  expect_error([&] { ops::check_boxes(boxes, "proposals"); }, {"proposals box 17 ", "x2 < x1"});
  v[4 * 12 + 2] = std::numeric_limits<float>::infinity();
  expect_error([&] { ops::check_boxes(boxes, "proposals"); }, {"proposals box 12 ", "non-finite", "inf"});
  v[4 * 3 + 1] = std::numeric_limits<float>::quiet_NaN();
  expect_error([&] { ops::check_boxes(test::to_dtype(boxes, DType::kF64), "anchors"); },
               {"anchors box 3 ", "non-finite", "nan"});
  expect_error([&] { ops::check_boxes(Tensor::empty({4, 5}), "gt_boxes"); }, {"check_boxes", "gt_boxes", "[N,4]"});
  expect_error(
      [&] {
        ops::check_boxes(Tensor::empty({4, 4}, DType::kI32), "gt_boxes");
      },
      {"check_boxes", "gt_boxes", "i32"});
}

TEST(Boxes, BadArgumentsNameTheOpAndTheArgument) {
  const Tensor a = random_boxes(5, 10, DType::kF32), b = random_boxes(3, 11, DType::kF32);
  Tensor out = Tensor::empty({5, 3});
  expect_error([&] { ops::box_iou(Tensor::empty({5, 5}), b, out); }, {"box_iou", "a must be [N,4]", "[5,5]"});
  expect_error([&] { ops::box_iou(a, test::to_dtype(b, DType::kF64), out); }, {"box_iou", "b must be f32"});
  expect_error([&] { ops::box_iou(a, test::to_dtype(b, DType::kBF16), out); }, {"box_iou", "b must be f32 or f64"});
  Tensor wrong = Tensor::empty({3, 5});
  expect_error([&] { ops::generalized_box_iou(a, b, wrong); }, {"generalized_box_iou", "giou", "[5,3]"});
  Tensor short_out = Tensor::empty({4, 4});
  expect_error([&] { ops::box_convert(a, BoxFormat::kXyxy, BoxFormat::kXywh, short_out); }, {"box_convert", "out"});
  Tensor c = Tensor::empty({5, 4});
  expect_error([&] { ops::clip_boxes_to_image(a, -1, 10, c); }, {"clip_boxes_to_image", "height", "-1"});
  expect_error([&] { ops::remove_small_boxes(a, kNaN); }, {"remove_small_boxes", "min_size"});
  expect_error([&] { ops::remove_small_boxes(Tensor::empty({5}), 1.0); }, {"remove_small_boxes", "boxes", "[N,4]"});
}

}  // namespace
}  // namespace attncamp
