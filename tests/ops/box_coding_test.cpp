// Tests for the box coding of ops/box_coding.h on the CPU: encode then decode gives the targets
// back, the clamp of dw and dh, torchvision's BoxCoder (encode_single, decode_single and autograd's
// gradient of decode_single) in f64, decode's backward against finite differences in f64, f32
// against f64, and bad arguments.
#include "ops/box_coding.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/ops/box_test_util.h"
#include "tests/ops/torch_reference.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::expect_error;
using test::random_boxes;

constexpr double kRoundTripTol = 1e-11;  // pixels, f64 encode then decode (log/exp round trip)
constexpr double kTorchTol = 1e-12;      // f64 against torchvision in f64, relative to 1 + max|value|
constexpr double kGradTol = 1e-7;        // central differences (step 1e-6) of a smooth f64 loss
constexpr double kF32Rel = 1e-6;         // f32 against f64 on the same inputs, relative to 1 + max|f64|
const ops::BoxCoderWeights kRoiWeights{10, 10, 5, 5};

Tensor encode(const Tensor& reference, const Tensor& target, const ops::BoxCoderWeights& w) {
  Tensor d = Tensor::empty(reference.shape(), reference.dtype());
  d.poison();
  ops::box_encode(reference, target, w, d);
  return d;
}

Tensor decode(const Tensor& deltas, const Tensor& reference, const ops::BoxCoderWeights& w,
              double clip = ops::kBoxDecodeClip) {
  Tensor b = Tensor::empty(deltas.shape(), deltas.dtype());
  b.poison();
  ops::box_decode_forward(deltas, reference, w, clip, b);
  return b;
}

// [n, 4k] deltas in [-1, 1), with dw and dh of every fifth box far beyond the clamp at `clip`.
Tensor random_deltas(int64_t n, int64_t k, uint64_t seed, const ops::BoxCoderWeights& w, double clip) {
  Tensor d = test::random_tensor({n, 4 * k}, DType::kF64, seed);
  for (int64_t e = 0; e < n * k; e += 5) {
    d.data<double>()[4 * e + 2] = (clip + 1) * w.ww;
    d.data<double>()[4 * e + 3] = (clip + 2) * w.wh;
  }
  return d;
}

TEST(BoxCoding, EncodeThenDecodeGivesTheTargets) {
  const Tensor reference = random_boxes(57, 1, DType::kF64, 200, 2, 80);
  const Tensor target = random_boxes(57, 2, DType::kF64, 200, 2, 80);
  for (const ops::BoxCoderWeights& w : {ops::BoxCoderWeights{}, kRoiWeights}) {
    const Tensor back = decode(encode(reference, target, w), reference, w, 1e9);
    EXPECT_LE(test::max_abs_diff(back, target), kRoundTripTol);
    EXPECT_LE(test::max_abs(encode(reference, reference, w)), 0.0);  // a box relative to itself
  }
  // Hand values: a reference box 10 x 20 centred at (5, 10), a target 20 x 10 centred at (10, 5).
  const Tensor d = encode(test::box_tensor({{0, 0, 10, 20}}), test::box_tensor({{0, 0, 20, 10}}), kRoiWeights);
  const double want[4] = {10 * 5.0 / 10, 10 * -5.0 / 20, 5 * std::log(2.0), 5 * std::log(0.5)};
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(d.data<double>()[k], want[k], 1e-15) << k;
}

TEST(BoxCoding, DecodeClampsWidthAndHeight) {
  const Tensor reference = test::box_tensor({{0, 0, 10, 20}});
  const Tensor deltas = test::box_tensor({{0, 0, 50, -3}});
  const Tensor b = decode(deltas, reference, {}, ops::kBoxDecodeClip);
  const double w = 10 * std::exp(ops::kBoxDecodeClip), h = 20 * std::exp(-3.0);
  EXPECT_NEAR(w, 625.0, 1e-12);  // 1000 / 16 times the reference's width
  const double want[4] = {5 - w / 2, 10 - h / 2, 5 + w / 2, 10 + h / 2};
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(b.data<double>()[k], want[k], 1e-12) << k;
}

TEST(BoxCoding, MatchesTorchvisionBoxCoder) {
  ATTNCAMP_REQUIRE_TORCH();
  const int64_t n = 31, k = 3;
  const Tensor reference = random_boxes(n, 3, DType::kF64, 300, 1, 120);
  const Tensor target = random_boxes(n, 4, DType::kF64, 300, 1, 120);
  const Tensor deltas = random_deltas(n, k, 5, kRoiWeights, ops::kBoxDecodeClip);
  const Tensor dboxes = test::random_tensor({n, 4 * k}, DType::kF64, 6);
  const auto ref =
      test::run_torch(R"PY(
import math
from torchvision.models.detection._utils import BoxCoder
coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
reference, target = load("reference"), load("target")
save("deltas", coder.encode_single(target, reference))
d = load("deltas_in").requires_grad_()
boxes = coder.decode_single(d, reference)
save("boxes", boxes)
boxes.backward(load("dboxes"))
save("ddeltas", d.grad)
)PY",
                      {{"reference", reference}, {"target", target}, {"deltas_in", deltas}, {"dboxes", dboxes}},
                      {"deltas", "boxes", "ddeltas"});
  ASSERT_EQ(ref.size(), 3u);
  const auto rel = [](const Tensor& a, const Tensor& b) { return test::max_abs_diff(a, b) / (1 + test::max_abs(b)); };
  EXPECT_LE(rel(encode(reference, target, kRoiWeights), ref.at("deltas")), kTorchTol);
  const Tensor boxes = decode(deltas, reference, kRoiWeights);
  EXPECT_LE(rel(boxes, ref.at("boxes").view({n, 4 * k})), kTorchTol);
  Tensor ddeltas = Tensor::empty({n, 4 * k}, DType::kF64);
  ddeltas.poison();
  ops::box_decode_backward(dboxes, deltas, reference, kRoiWeights, ops::kBoxDecodeClip, ddeltas);
  EXPECT_LE(rel(ddeltas, ref.at("ddeltas")), kTorchTol);
}

// A small clip (0.5 against |dw / ww| <= 0.2 unclamped) keeps the clamped boxes small, so the
// loss's rounding stays far below the tolerance.
TEST(BoxCoding, DecodeBackwardMatchesFiniteDifferences) {
  const int64_t n = 6, k = 2;
  const double clip = 0.5;
  const Tensor reference = random_boxes(n, 7, DType::kF64, 50, 3, 30);
  Tensor deltas = random_deltas(n, k, 8, kRoiWeights, clip);
  const Tensor wt = test::random_tensor({n, 4 * k}, DType::kF64, 9);
  Tensor boxes = Tensor::empty({n, 4 * k}, DType::kF64);
  auto loss = [&] {
    ops::box_decode_forward(deltas, reference, kRoiWeights, clip, boxes);
    return test::weighted_sum(boxes, wt);
  };
  const Tensor numeric = test::numerical_gradient(loss, deltas);
  Tensor ddeltas = wt.clone();  // in place over dboxes
  ops::box_decode_backward(ddeltas, deltas, reference, kRoiWeights, clip, ddeltas);
  EXPECT_LE(test::max_abs_diff(ddeltas, numeric), kGradTol);
  EXPECT_EQ(ddeltas.data<double>()[2], 0.0);  // box 0's dw is clamped
}

// f32 results against f64 ones on the same (f32-rounded) inputs: only the output's rounding differs.
TEST(BoxCoding, F32MatchesF64) {
  const Tensor r32 = random_boxes(40, 10, DType::kF32, 150, 2, 60);
  const Tensor t32 = random_boxes(40, 11, DType::kF32, 150, 2, 60);
  const Tensor r64 = test::to_dtype(r32, DType::kF64), t64 = test::to_dtype(t32, DType::kF64);
  const Tensor d32 = encode(r32, t32, kRoiWeights), d64 = encode(r64, t64, kRoiWeights);
  EXPECT_LE(test::max_abs_diff(d32, d64), kF32Rel * (1 + test::max_abs(d64)));
  const Tensor b32 = decode(d32, r32, kRoiWeights), b64 = decode(test::to_dtype(d32, DType::kF64), r64, kRoiWeights);
  EXPECT_LE(test::max_abs_diff(b32, b64), kF32Rel * (1 + test::max_abs(b64)));
}

TEST(BoxCoding, BadArgumentsNameTheOpAndTheArgument) {
  const Tensor r = random_boxes(4, 12, DType::kF32), t = random_boxes(4, 13, DType::kF32);
  Tensor d = Tensor::empty({4, 4}), b8 = Tensor::empty({4, 8});
  expect_error([&] { ops::box_encode(r, random_boxes(3, 1, DType::kF32), {}, d); }, {"box_encode", "target", "[4,4]"});
  expect_error([&] { ops::box_encode(r, test::to_dtype(t, DType::kF64), {}, d); }, {"box_encode", "target", "f32"});
  expect_error([&] { ops::box_encode(r, t, {1, 1, 0, 1}, d); }, {"box_encode", "weights must be > 0", "(1, 1, 0, 1)"});
  expect_error(
      [&] {
        ops::box_decode_forward(Tensor::empty({4, 6}), r, {}, 1.0, b8);
      },
      {"box_decode_forward", "deltas must be [N,4K]", "[4,6]"});
  expect_error(
      [&] {
        ops::box_decode_forward(Tensor::empty({5, 8}), r, {}, 1.0, b8);
      },
      {"box_decode_forward", "deltas", "N = 4"});
  expect_error([&] { ops::box_decode_forward(b8, r, {}, 1.0, b8); }, {"box_decode_forward", "alias"});
  expect_error(
      [&] {
        ops::box_decode_forward(Tensor::empty({4, 8}), r, {}, std::nan(""), b8);
      },
      {"box_decode_forward", "clip"});
  expect_error(
      [&] {
        ops::box_decode_forward(Tensor::empty({4, 8}), r, {}, 1.0, d);
      },
      {"box_decode_forward", "boxes", "[4,8]"});
  expect_error(
      [&] {
        ops::box_decode_backward(Tensor::empty({4, 4}), b8, r, {}, 1.0, b8);
      },
      {"box_decode_backward", "dboxes", "[4,8]"});
}

}  // namespace
}  // namespace attncamp
