// Parity tests of the CUDA box ops, box coding and anchors (ops/boxes.h, box_coding.h, anchors.h)
// against their CPU references through the parity harness (tests/ops/parity.h), f32 only (the
// detection convention): IoU/GIoU and box coding within f32 tolerances, conversions, clipping,
// anchors and keep lists exactly, on ragged sizes around the kernels' chunks, with misaligned views
// and poisoned outputs. check_boxes and the keep lists' device-side conventions are checked
// directly. Without a GPU every test skips, saying why.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ops/anchors.h"
#include "ops/box_coding.h"
#include "ops/boxes.h"
#include "tests/cuda_test_util.h"
#include "tests/ops/box_test_util.h"
#include "tests/ops/parity.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using ops::BoxFormat;
using test::exact;
using test::in;
using test::inout;
using test::int_out;
using test::out;
using test::ParityRun;
using test::random_boxes;
using test::Tol;
using test::Tolerance;

const std::vector<DType> kF32 = {DType::kF32};
// IoU/GIoU in [-1, 1]: f32 arithmetic against double rounded to f32.
const Tolerance kIouTol{Tol{1e-6, 0}, Tol{}};
// Box coding: a few f32 operations (exp, log, divisions) deep, relative to the largest value.
const Tolerance kCodingTol{Tol{1e-6, 2e-6}, Tol{}};
const Tolerance kExactTol{};

std::string sized(const char* what, int64_t n, int64_t m = -1) {
  return std::string(what) + " " + std::to_string(n) + (m >= 0 ? "x" + std::to_string(m) : "");
}

TEST(BoxIouParity, IouAndGiou) {
  ATTNCAMP_REQUIRE_GPU();
  const int64_t sizes[][2] = {{1, 1}, {37, 23}, {1000, 77}, {3, 70001}};
  for (const auto& s : sizes) {
    for (bool generalized : {false, true}) {
      test::check_parity({sized(generalized ? "generalized_box_iou" : "box_iou", s[0], s[1]),
                          kF32,
                          kIouTol,
                          {test::misaligned(in("a", random_boxes(s[0], 1 + s[0], DType::kF64, 60, 0, 40, 7)), 1),
                           in("b", random_boxes(s[1], 2 + s[1], DType::kF64, 60, 0, 40, 5)), out("out", {s[0], s[1]})},
                          [generalized](std::vector<Tensor>& t, const ParityRun&) {
                            generalized ? ops::generalized_box_iou(t[0], t[1], t[2]) : ops::box_iou(t[0], t[1], t[2]);
                          }});
    }
  }
}

TEST(BoxConvertParity, EveryPairOfFormatsAndClipping) {
  ATTNCAMP_REQUIRE_GPU();
  const BoxFormat formats[] = {BoxFormat::kXyxy, BoxFormat::kXywh, BoxFormat::kCxcywh};
  const Tensor boxes = random_boxes(1003, 3, DType::kF64, 120, 0, 60, 9);
  for (BoxFormat from : formats) {
    for (BoxFormat to : formats) {
      const std::string name =
          std::string("box_convert ") + ops::box_format_name(from) + " -> " + ops::box_format_name(to);
      test::check_parity(
          {name,
           kF32,
           kExactTol,
           {in("boxes", boxes), exact(out("out", {1003, 4}))},
           [from, to](std::vector<Tensor>& t, const ParityRun&) { ops::box_convert(t[0], from, to, t[1]); }});
      test::check_parity(
          {name + " in place",
           kF32,
           kExactTol,
           {exact(inout("boxes", boxes))},
           [from, to](std::vector<Tensor>& t, const ParityRun&) { ops::box_convert(t[0], from, to, t[0]); }});
    }
  }
  Tensor wild = boxes.clone();
  for (int64_t i = 0; i < 1003; i += 3) wild.data<double>()[4 * i] -= 40;  // past the left edge
  test::check_parity({"clip_boxes_to_image",
                      kF32,
                      kExactTol,
                      {in("boxes", wild), exact(out("out", {1003, 4}))},
                      [](std::vector<Tensor>& t, const ParityRun&) { ops::clip_boxes_to_image(t[0], 90, 100, t[1]); }});
}

// The keep list must be a contiguous i64 tensor on the boxes' device holding the CPU's indices.
TEST(RemoveSmallBoxesParity, KeepListsAroundChunkBoundaries) {
  ATTNCAMP_REQUIRE_GPU();
  for (int64_t n : {int64_t{1}, int64_t{255}, int64_t{256}, int64_t{257}, int64_t{2049}, int64_t{100003}}) {
    for (double min_size : {0.0, 7.5, 1e9}) {
      const Tensor boxes = random_boxes(n, 10 + n, DType::kF64, 100, 0, 20, 13);
      const int64_t kept = ops::remove_small_boxes(test::to_dtype(boxes, DType::kF32), min_size).numel();
      test::check_parity({sized("remove_small_boxes", n) + " min_size " + std::to_string(min_size),
                          kF32,
                          kExactTol,
                          {in("boxes", boxes), int_out("keep", {kept}, DType::kI64)},
                          [min_size](std::vector<Tensor>& t, const ParityRun&) {
                            const Tensor keep = ops::remove_small_boxes(t[0], min_size);
                            EXPECT_EQ(keep.device(), t[0].device());
                            EXPECT_EQ(keep.dtype(), DType::kI64);
                            ASSERT_EQ(keep.shape(), t[1].shape());
                            t[1].copy_from(keep);
                          }});
    }
  }
  EXPECT_EQ(ops::remove_small_boxes(Tensor::empty({0, 4}, DType::kF32, Device::cuda(0)), 1.0).shape(), Shape({0}));
}

TEST(CheckBoxesCuda, FindsTheFirstInvalidBoxAsTheCpuDoes) {
  ATTNCAMP_REQUIRE_GPU();
  const int64_t n = 300001;
  Tensor boxes = random_boxes(n, 20, DType::kF32, 100, 0, 20, 9);
  EXPECT_NO_THROW(ops::check_boxes(boxes.to(Device::cuda(0)), "gt_boxes"));
  EXPECT_NO_THROW(ops::check_boxes(Tensor::empty({0, 4}, DType::kF32, Device::cuda(0)), "gt_boxes"));
  float* v = boxes.data<float>();
  v[4 * 250000 + 3] = v[4 * 250000 + 1] - 1;
  test::expect_error([&] { ops::check_boxes(boxes.to(Device::cuda(0)), "proposals"); },
                     {"proposals box 250000 of 300001", "y2 < y1"});
  v[4 * 77777 + 0] = NAN;
  v[4 * 200000 + 2] = v[4 * 200000 + 0] - 1;
  test::expect_error([&] { ops::check_boxes(boxes.to(Device::cuda(0)), "proposals"); },
                     {"proposals box 77777 of 300001", "non-finite"});
}

// [n, 4k] deltas in [-2, 2), with the dw of every seventh box beyond the clamp.
Tensor coding_deltas(int64_t n, int64_t k, uint64_t seed) {
  Tensor d = test::random_tensor({n, 4 * k}, DType::kF64, seed, -2.0, 2.0);
  for (int64_t e = 0; e < n * k; e += 7) d.data<double>()[4 * e + 2] = 40;
  return d;
}

TEST(BoxCodingParity, EncodeDecodeAndBackward) {
  ATTNCAMP_REQUIRE_GPU();
  const ops::BoxCoderWeights w{10, 10, 5, 5};
  for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{70001}}) {
    const Tensor reference = random_boxes(n, 30 + n, DType::kF64, 200, 2, 80);
    test::check_parity({sized("box_encode", n),
                        kF32,
                        kCodingTol,
                        {in("reference", reference), in("target", random_boxes(n, 31 + n, DType::kF64, 200, 2, 80)),
                         out("deltas", {n, 4})},
                        [w](std::vector<Tensor>& t, const ParityRun&) { ops::box_encode(t[0], t[1], w, t[2]); }});
    for (int64_t k : {int64_t{1}, int64_t{3}}) {
      test::check_parity(
          {sized("box_decode_forward", n, k),
           kF32,
           kCodingTol,
           {in("deltas", coding_deltas(n, k, 32 + n)), in("reference", reference), out("boxes", {n, 4 * k})},
           [w](std::vector<Tensor>& t, const ParityRun&) {
             ops::box_decode_forward(t[0], t[1], w, ops::kBoxDecodeClip, t[2]);
           }});
      test::check_parity({sized("box_decode_backward in place", n, k),
                          kF32,
                          kCodingTol,
                          {inout("dboxes", test::random_tensor({n, 4 * k}, DType::kF64, 33 + n)),
                           in("deltas", coding_deltas(n, k, 32 + n)), in("reference", reference)},
                          [w](std::vector<Tensor>& t, const ParityRun&) {
                            ops::box_decode_backward(t[0], t[1], t[2], w, ops::kBoxDecodeClip, t[0]);
                          }});
    }
  }
}

TEST(AnchorsParity, PyramidLevelsIntoOneTensor) {
  ATTNCAMP_REQUIRE_GPU();
  const std::vector<double> ratios = {0.5, 1.0, 2.0};
  const int64_t rows0 = 200 * 267 * 3, rows1 = 13 * 17 * 9;
  test::check_parity({"grid_anchors",
                      kF32,
                      kExactTol,
                      {exact(out("anchors", {rows0 + rows1, 4}))},
                      [&](std::vector<Tensor>& t, const ParityRun&) {
                        Tensor level0 = t[0].slice(0, rows0), level1 = t[0].slice(rows0, rows0 + rows1);
                        ops::grid_anchors({32}, ratios, 200, 267, 4, 4, level0);
                        ops::grid_anchors({128, 161.3, 203.2}, ratios, 13, 17, 64, 62, level1);
                      }});
}

}  // namespace
}  // namespace attncamp
