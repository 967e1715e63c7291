// CPU emulation of the CUDA kernels of the box ops, the box coding and the anchors
// (ops/cuda/boxes.cuh, box_coding.cuh, anchors.cuh): g++ compiles the real kernel headers against
// tests/emu, and each kernel chain runs as its launcher queues it (the same grid helpers and
// parameter structs), under several thread interleavings and with grids small enough that the
// grid-stride loops wrap. Results are compared with the CPU reference: integer outputs (keep lists,
// first invalid box) and the exact ops (conversions, clipping, anchors) bit for bit, the rest
// within f32 tolerances. This checks the kernels' logic without a GPU; it is not a substitute
// for the GPU parity tests (tests/ops/cuda_boxes_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "cuda_emu.h"  // before the kernel headers: the CUDA built-ins they use under g++
#include "ops/anchors.h"
#include "ops/box_coding.h"
#include "ops/boxes.h"
#include "ops/cuda/anchors.cuh"
#include "ops/cuda/box_coding.cuh"
#include "ops/cuda/boxes.cuh"
#include "tests/ops/box_test_util.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

namespace kb = ops::cuda::boxes;
namespace kc = ops::cuda::box_coding;
using ops::BoxFormat;
using test::random_boxes;

constexpr double kIouTol = 1e-6;  // IoU/GIoU in [-1, 1]: f32 arithmetic against double rounded to f32
constexpr double kF32Rel = 2e-6;  // box coding: f32 kernel against the CPU's double, relative to 1 + max|ref|

// Interleavings of a block's threads, cycled through by the runs.
const emu::LaunchOptions kSchedules[] = {{0, emu::Schedule::kWarpByWarp, false, {}},
                                         {0, emu::Schedule::kLockstep, true, {}},
                                         {2, emu::Schedule::kWarpByWarp, true, {}}};

void launch(int64_t blocks, int threads, const std::function<void()>& body, int run) {
  emu::launch(dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(threads)), 0, body, kSchedules[run % 3]);
}

// An output poisoned with 0xff bytes: NaN floats, -1 integers (never a valid index).
Tensor out_like(const Shape& shape, DType dtype = DType::kF32) {
  Tensor t = Tensor::empty(shape, dtype);
  t.poison();
  return t;
}

double rel_diff(const Tensor& a, const Tensor& b) { return test::max_abs_diff(a, b) / (1 + test::max_abs(b)); }

TEST(EmuBoxes, PairwiseIouAndGiou) {
  const Tensor a = random_boxes(37, 1, DType::kF32, 60, 0, 40, 6), b = random_boxes(23, 2, DType::kF32, 60, 0, 40, 5);
  int run = 0;
  for (bool generalized : {false, true}) {
    for (int64_t blocks : {int64_t{(37 * 23 + kb::kThreads - 1) / kb::kThreads}, int64_t{1}}) {  // 1: the loop wraps
      Tensor got = out_like({37, 23}), want = out_like({37, 23});
      kb::IouParams p;
      p.n = 37;
      p.m = 23;
      p.a = a.data<float>();
      p.b = b.data<float>();
      p.out = got.data<float>();
      p.generalized = generalized;
      launch(
          blocks, kb::kThreads, [&] { kb::iou_kernel(p); }, run++);
      generalized ? ops::generalized_box_iou(a, b, want) : ops::box_iou(a, b, want);
      EXPECT_LE(test::max_abs_diff(got, want), kIouTol) << "generalized " << generalized << ", blocks " << blocks;
    }
  }
}

TEST(EmuBoxes, ConvertAndClipAreExact) {
  const Tensor boxes = random_boxes(300, 3, DType::kF32, 120, 0, 60, 7);
  const BoxFormat formats[] = {BoxFormat::kXyxy, BoxFormat::kXywh, BoxFormat::kCxcywh};
  int run = 0;
  for (BoxFormat from : formats) {
    for (BoxFormat to : formats) {
      Tensor got = boxes.clone(), want = out_like({300, 4});  // in place
      kb::ConvertParams p;
      p.n = 300;
      p.in = got.data<float>();
      p.out = got.data<float>();
      p.from = from;
      p.to = to;
      launch(
          1, kb::kThreads, [&] { kb::convert_kernel(p); }, run++);
      ops::box_convert(boxes, from, to, want);
      EXPECT_EQ(test::max_abs_diff(got, want), 0.0) << ops::box_format_name(from) << " -> " << ops::box_format_name(to);
    }
  }
  Tensor got = out_like({300, 4}), want = out_like({300, 4});
  kb::ClipParams p;
  p.n = 300;
  p.in = boxes.data<float>();
  p.out = got.data<float>();
  p.height = 90;
  p.width = 100;
  launch(
      2, kb::kThreads, [&] { kb::clip_kernel(p); }, run);
  ops::clip_boxes_to_image(boxes, 90, 100, want);
  EXPECT_EQ(test::max_abs_diff(got, want), 0.0);
}

// The launcher's chain (ops/cuda/boxes.cu): counts per chunk, offsets in place, then the indices.
Tensor emulated_keep(const Tensor& boxes, float min_size, int run) {
  const int64_t n = boxes.size(0), chunks = kb::chunk_count(n);
  kb::SmallBoxParams p;
  p.n = n;
  p.boxes = boxes.data<float>();
  p.min_size = min_size;
  Tensor offsets = out_like({chunks + 1}, DType::kI64);
  int64_t* off = offsets.data<int64_t>();
  launch(
      kb::chunk_blocks(n), kb::kThreads, [&] { kb::small_box_count_kernel(p, off); }, run);
  launch(
      1, kb::kWarp, [&] { kb::scan_counts_kernel(off, chunks, off, off + chunks); }, run + 1);
  Tensor keep = out_like({off[chunks]}, DType::kI64);
  launch(
      kb::chunk_blocks(n), kb::kThreads, [&] { kb::small_box_scatter_kernel(p, off, keep.data<int64_t>()); }, run + 2);
  return keep;
}

TEST(EmuBoxes, SmallBoxKeepListsEqualTheCpus) {
  int run = 0;
  // Chunk boundaries (256 boxes per warp, 8 warps per block) and more than 32 chunks (the scan loops).
  for (int64_t n : {int64_t{1}, int64_t{255}, int64_t{256}, int64_t{257}, int64_t{2049}, int64_t{9000}}) {
    Tensor boxes = random_boxes(n, 10 + static_cast<uint64_t>(n), DType::kF32, 100, 0, 20, 13);
    if (n > 100) boxes.data<float>()[4 * 77] = NAN;  // removed
    for (float min_size : {0.0f, 7.5f, 100.0f}) {
      const Tensor want = ops::remove_small_boxes(boxes, min_size);
      const Tensor got = emulated_keep(boxes, min_size, run);
      run += 3;
      ASSERT_EQ(got.numel(), want.numel()) << "n " << n << ", min_size " << min_size;
      for (int64_t i = 0; i < got.numel(); ++i) {
        ASSERT_EQ(got.data<int64_t>()[i], want.data<int64_t>()[i])
            << "n " << n << ", min_size " << min_size << ", " << i;
      }
    }
  }
}

int64_t emulated_first_bad(const Tensor& boxes, int64_t grid, int run) {
  kb::CheckParams p;
  p.n = boxes.size(0);
  p.boxes = boxes.data<float>();
  const int64_t parts = grid * (kb::kThreads / kb::kWarp);
  Tensor partial = out_like({parts + 1}, DType::kI64);
  int64_t* part = partial.data<int64_t>();
  launch(
      grid, kb::kThreads, [&] { kb::first_bad_partial_kernel(p, part); }, run);
  launch(
      1, kb::kWarp, [&] { kb::first_bad_final_kernel(part, parts, p.n, part + parts); }, run + 1);
  return part[parts];
}

TEST(EmuBoxes, FirstInvalidBoxIsTheSmallestIndex) {
  const int64_t n = 5000;
  Tensor boxes = random_boxes(n, 20, DType::kF32, 100, 0, 20, 9);
  int run = 0;
  for (int64_t grid : {(n + kb::kThreads - 1) / kb::kThreads, int64_t{2}}) {
    EXPECT_EQ(emulated_first_bad(boxes, grid, run), n);
    run += 2;
  }
  float* v = boxes.data<float>();
  v[4 * 4321 + 3] = v[4 * 4321 + 1] - 1;  // y2 < y1
  v[4 * 1234 + 0] = INFINITY;
  v[4 * 2999 + 2] = v[4 * 2999 + 0] - 0.25f;  // x2 < x1
  for (int64_t grid : {(n + kb::kThreads - 1) / kb::kThreads, int64_t{2}, int64_t{1}}) {
    EXPECT_EQ(emulated_first_bad(boxes, grid, run), 1234) << "grid " << grid;
    run += 2;
  }
  v[4 * 1234 + 0] = 0;
  EXPECT_EQ(emulated_first_bad(boxes, 3, run), 2999);
  v[4 * 0 + 1] = NAN;
  EXPECT_EQ(emulated_first_bad(boxes, 3, run), 0);
}

TEST(EmuBoxCoding, EncodeDecodeAndBackward) {
  const int64_t n = 300, k = 3;
  const Tensor reference = random_boxes(n, 30, DType::kF32, 200, 2, 80);
  const Tensor target = random_boxes(n, 31, DType::kF32, 200, 2, 80);
  Tensor deltas = test::to_dtype(test::random_tensor({n, 4 * k}, DType::kF64, 32, -2.0, 2.0), DType::kF32);
  for (int64_t e = 0; e < n * k; e += 7) deltas.data<float>()[4 * e + 2] = 40;  // clamped dw
  const Tensor dboxes = test::to_dtype(test::random_tensor({n, 4 * k}, DType::kF64, 33), DType::kF32);
  const ops::BoxCoderWeights w{10, 10, 5, 5};
  kc::Params p;
  p.n = n;
  p.k = k;
  p.reference = reference.data<float>();
  p.wx = 10;
  p.wy = 10;
  p.ww = 5;
  p.wh = 5;
  p.clip = static_cast<float>(ops::kBoxDecodeClip);
  int run = 0;
  for (int64_t blocks : {(n * k + kc::kThreads - 1) / kc::kThreads, int64_t{1}}) {
    Tensor enc = out_like({n, 4}), enc_want = out_like({n, 4});
    kc::Params pe = p;
    pe.k = 1;
    launch(
        blocks, kc::kThreads, [&] { kc::encode_kernel(pe, target.data<float>(), enc.data<float>()); }, run++);
    ops::box_encode(reference, target, w, enc_want);
    EXPECT_LE(rel_diff(enc, enc_want), kF32Rel);
    Tensor dec = out_like({n, 4 * k}), dec_want = out_like({n, 4 * k});
    launch(
        blocks, kc::kThreads, [&] { kc::decode_kernel(p, deltas.data<float>(), dec.data<float>()); }, run++);
    ops::box_decode_forward(deltas, reference, w, ops::kBoxDecodeClip, dec_want);
    EXPECT_LE(rel_diff(dec, dec_want), kF32Rel);
    Tensor grad = dboxes.clone(), grad_want = out_like({n, 4 * k});  // in place over dboxes
    launch(
        blocks, kc::kThreads,
        [&] { kc::decode_backward_kernel(p, grad.data<float>(), deltas.data<float>(), grad.data<float>()); }, run++);
    ops::box_decode_backward(dboxes, deltas, reference, w, ops::kBoxDecodeClip, grad_want);
    EXPECT_LE(rel_diff(grad, grad_want), kF32Rel);
  }
}

TEST(EmuAnchors, GridIsExact) {
  const std::vector<double> sizes = {32, 45.3, 64}, ratios = {0.5, 1.0, 2.0};
  const Tensor cell = ops::cell_anchors(sizes, ratios);
  const int64_t fh = 13, fw = 17, a_n = cell.size(0);
  ops::cuda::anchors::Params p;
  p.fh = fh;
  p.fw = fw;
  p.stride_h = 8;
  p.stride_w = 6;
  p.cells = static_cast<int>(a_n);
  for (int64_t i = 0; i < a_n; ++i) {
    for (int c = 0; c < 4; ++c) p.cell[i][c] = cell.data<float>()[i * 4 + c];
  }
  Tensor got = out_like({fh * fw * a_n, 4}), want = out_like({fh * fw * a_n, 4});
  p.anchors = got.data<float>();
  launch(
      3, ops::cuda::anchors::kThreads, [&] { ops::cuda::anchors::grid_anchors_kernel(p); }, 0);
  ops::grid_anchors(sizes, ratios, fh, fw, 8, 6, want);
  EXPECT_EQ(test::max_abs_diff(got, want), 0.0);
}

}  // namespace
}  // namespace attncamp
