// Tests for ops::roi_align_forward/backward on the CPU: the forward against a plain loop written
// from torchvision's definition and against an analytic result, both passes against torchvision
// itself (Debian's python3-torchvision, NCHW), the backward against finite differences and as the
// adjoint of the forward, f32 against f64, thread-count determinism, and the errors of bad ROIs,
// shapes and options (each names the op, the argument and the ROI).
#include "ops/roi_align.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "ops/roi_align_geometry.h"
#include "tests/ops/roi_align_test_cases.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::roi_align::Case;
using test::roi_align::map_shape;
using test::roi_align::options;
using test::roi_align::pooled_shape;
using test::roi_align::random_rois;
using test::roi_align::small_cases;

// f64 reference against the plain loop / torchvision in f64: sums of a few hundred products.
constexpr double kF64Tol = 1e-12;
// f32 against f64, or against torchvision in f32 (which also sums in f32): sample positions with
// ~1e-7 relative error times map gradients <= 2, plus f32 sums; relative to 1 + max|ref|.
constexpr double kF32Tol = 5e-6;
// Central differences of a function linear in the input: rounding only.
constexpr double kGradTol = 1e-8;
// Two f64 dot products over a few thousand terms, relative to 1 + |value|.
constexpr double kAdjointTol = 1e-10;

// Bilinear interpolation of channel c at (y, x) as torchvision defines it, from scratch.
double bilinear(const Tensor& map, int64_t b, double y, double x, int64_t c) {
  const int64_t H = map.size(1), W = map.size(2), C = map.size(3);
  if (y < -1.0 || y > static_cast<double>(H) || x < -1.0 || x > static_cast<double>(W)) return 0.0;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(x)), y1 = y0 + 1, x1 = x0 + 1;
  if (y0 >= H - 1) {
    y0 = y1 = H - 1;
    y = static_cast<double>(y0);
  }
  if (x0 >= W - 1) {
    x0 = x1 = W - 1;
    x = static_cast<double>(x0);
  }
  const double ly = y - static_cast<double>(y0), lx = x - static_cast<double>(x0);
  auto at = [&](int64_t yy, int64_t xx) { return map.data<double>()[((b * H + yy) * W + xx) * C + c]; };
  return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x1) + ly * (1 - lx) * at(y1, x0) +
         ly * lx * at(y1, x1);
}

// RoIAlign (aligned=True) of an f64 map, one output element at a time.
Tensor plain_forward(const Tensor& map, const Tensor& rois, const Case& c) {
  Tensor out = Tensor::empty(pooled_shape(c), DType::kF64);
  double* o = out.data<double>();
  for (int64_t k = 0; k < c.rois; ++k) {
    const double* r = rois.data<double>() + k * 5;
    const double x1 = r[1] * c.spatial_scale - 0.5, y1 = r[2] * c.spatial_scale - 0.5;
    const double rw = r[3] * c.spatial_scale - 0.5 - x1, rh = r[4] * c.spatial_scale - 0.5 - y1;
    const double bh = rh / static_cast<double>(c.pooled_h), bw = rw / static_cast<double>(c.pooled_w);
    const int64_t gh = c.sampling_ratio > 0 ? c.sampling_ratio : static_cast<int64_t>(std::ceil(bh));
    const int64_t gw = c.sampling_ratio > 0 ? c.sampling_ratio : static_cast<int64_t>(std::ceil(bw));
    const double count = static_cast<double>(std::max<int64_t>(gh * gw, 1));
    for (int64_t ph = 0; ph < c.pooled_h; ++ph) {
      for (int64_t pw = 0; pw < c.pooled_w; ++pw) {
        for (int64_t ch = 0; ch < c.channels; ++ch) {
          double sum = 0;
          for (int64_t iy = 0; iy < gh; ++iy) {
            const double y = y1 + static_cast<double>(ph) * bh + (static_cast<double>(iy) + 0.5) * bh / gh;
            for (int64_t ix = 0; ix < gw; ++ix) {
              const double x = x1 + static_cast<double>(pw) * bw + (static_cast<double>(ix) + 0.5) * bw / gw;
              sum += bilinear(map, static_cast<int64_t>(r[0]), y, x, ch);
            }
          }
          o[((k * c.pooled_h + ph) * c.pooled_w + pw) * c.channels + ch] = sum / count;
        }
      }
    }
  }
  return out;
}

Tensor forward(const Tensor& map, const Tensor& rois, const Case& c) {
  Tensor out = Tensor::empty(pooled_shape(c), map.dtype());
  out.poison();
  ops::roi_align_forward(map, rois, options(c), out);
  return out;
}

Tensor backward(const Tensor& grad, const Tensor& rois, const Case& c) {
  Tensor gi = Tensor::empty(map_shape(c), grad.dtype());
  gi.poison();
  ops::roi_align_backward(grad, rois, options(c), gi);
  return gi;
}

double rel_diff(const Tensor& out, const Tensor& ref) {
  return test::max_abs_diff(out, ref) / (1.0 + test::max_abs(ref));
}

// The shared sampling geometry (ops/roi_align_geometry.h) on hand cases: torchvision's aligned=True
// corners and bins, adaptive and fixed grids, sample positions, border taps, and each ROI problem.
TEST(RoiAlignGeometry, HandCases) {
  namespace g = ops::roi_align;
  const double roi[5] = {1, 2, 4, 10, 12};  // image 1, x 2..10, y 4..12, at scale 0.5
  const g::RoiBins<double> b = g::roi_bins(roi, 0.5, 2, 2, 0);
  EXPECT_EQ(b.start_x, 0.5);  // 2 * 0.5 - 0.5
  EXPECT_EQ(b.start_y, 1.5);
  EXPECT_EQ(b.bin_w, 2.0);  // (5 - 1) / 2
  EXPECT_EQ(b.bin_h, 2.0);
  EXPECT_EQ(b.grid_w, 2);  // adaptive: ceil(4 / 2)
  EXPECT_EQ(b.grid_h, 2);
  EXPECT_EQ(b.count, 4.0);
  EXPECT_EQ(g::roi_bins(roi, 0.5, 2, 2, 3).grid_w, 3);
  // Bin 1's samples at 0.5 + 2 + (i + 0.5) * 2 / 2.
  EXPECT_EQ(g::sample_position(0.5, 2.0, 1, 0, 2), 3.0);
  EXPECT_EQ(g::sample_position(0.5, 2.0, 1, 1, 2), 4.0);
  g::AxisTaps<double> t;
  ASSERT_TRUE(g::axis_taps(2.25, 5, t));
  EXPECT_EQ(t.lo, 2);
  EXPECT_EQ(t.hi, 3);
  EXPECT_EQ(t.w_hi, 0.25);
  EXPECT_EQ(t.w_lo, 0.75);
  ASSERT_TRUE(g::axis_taps(-0.5, 5, t));  // [-1, 0]: pixel 0 alone
  EXPECT_EQ(t.lo, 0);
  EXPECT_EQ(t.w_lo, 1.0);
  ASSERT_TRUE(g::axis_taps(4.5, 5, t));  // beyond size - 1: the last pixel alone
  EXPECT_EQ(t.lo, 4);
  EXPECT_EQ(t.hi, 4);
  EXPECT_EQ(t.w_hi, 0.0);
  EXPECT_FALSE(g::axis_taps(-1.5, 5, t));
  EXPECT_FALSE(g::axis_taps(5.5, 5, t));
  EXPECT_FALSE(g::axis_taps(std::nan(""), 5, t));
  EXPECT_EQ(g::roi_problem(roi, 2, 0.5, 2, 2, 0), g::RoiProblem::kOk);
  EXPECT_EQ(g::roi_problem(roi, 1, 0.5, 2, 2, 0), g::RoiProblem::kBatchIndex);
  const double half[5] = {0.5, 0, 0, 1, 1}, nan[5] = {0, std::nan(""), 0, 1, 1}, huge[5] = {0, 0, 0, 1e7, 1};
  EXPECT_EQ(g::roi_problem(half, 2, 1.0, 2, 2, 0), g::RoiProblem::kBatchIndex);
  EXPECT_EQ(g::roi_problem(nan, 2, 1.0, 2, 2, 0), g::RoiProblem::kNotFinite);
  EXPECT_EQ(g::roi_problem(huge, 2, 1.0, 2, 2, 0), g::RoiProblem::kGridTooLarge);
  EXPECT_EQ(g::roi_problem(huge, 2, 1.0, 2, 2, 2), g::RoiProblem::kOk);  // a fixed grid is not limited
}

TEST(RoiAlign, ForwardMatchesPlainLoop) {
  for (const Case& c : small_cases()) {
    const Tensor map = test::random_tensor(map_shape(c), DType::kF64, c.seed);
    const Tensor rois = random_rois(c);
    EXPECT_LE(rel_diff(forward(map, rois, c), plain_forward(map, rois, c)), kF64Tol) << c.name;
  }
}

// On a map linear in y and x, bilinear interpolation is exact, so a bin inside the map averages to
// the value at its centre.
TEST(RoiAlign, LinearMapGivesBinCentres) {
  const Case c{"linear", 1, 20, 30, 2, 1, 4, 5, 0.5, 0, 9};
  Tensor map = Tensor::empty(map_shape(c), DType::kF64);
  for (int64_t y = 0; y < c.height; ++y) {
    for (int64_t x = 0; x < c.width; ++x) {
      map.data<double>()[(y * c.width + x) * 2] = 0.25 * static_cast<double>(y) - 0.5 * static_cast<double>(x);
      map.data<double>()[(y * c.width + x) * 2 + 1] = 3.0;
    }
  }
  Tensor rois = Tensor::empty({1, 5}, DType::kF64);
  const double box[5] = {0, 7.3, 5.1, 41.9, 29.7};  // well inside the 40 x 60 image
  std::memcpy(rois.data<double>(), box, sizeof(box));
  const Tensor out = forward(map, rois, c);
  const double y1 = box[2] * 0.5 - 0.5, x1 = box[1] * 0.5 - 0.5;
  const double bh = (box[4] - box[2]) * 0.5 / 4, bw = (box[3] - box[1]) * 0.5 / 5;
  for (int64_t ph = 0; ph < 4; ++ph) {
    for (int64_t pw = 0; pw < 5; ++pw) {
      const double yc = y1 + (static_cast<double>(ph) + 0.5) * bh, xc = x1 + (static_cast<double>(pw) + 0.5) * bw;
      EXPECT_NEAR(out.data<double>()[(ph * 5 + pw) * 2], 0.25 * yc - 0.5 * xc, kF64Tol);
      EXPECT_NEAR(out.data<double>()[(ph * 5 + pw) * 2 + 1], 3.0, kF64Tol);
    }
  }
}

// One case for torchvision: inputs (f64 values, rounded through the run's dtype) and its results.
struct TorchvisionRun {
  Case c;
  bool f32 = false;
  Tensor map, rois, grad;       // inputs, f64
  Tensor ref_pooled, ref_grad;  // torchvision's outputs, f64
};

// Runs tests/ops/roi_align_torchvision.py once on every run (torchvision in f32 or f64 on NCHW
// copies); returns false, saying why, when /usr/bin/python3, torch or torchvision is missing.
bool run_torchvision(std::vector<TorchvisionRun>& runs, std::string& why) {
  const std::string python = "/usr/bin/python3";
  if (std::system((python + " -c 'import torch, torchvision' >/dev/null 2>&1").c_str()) != 0) {
    why = python + " with torch and torchvision is not available";
    return false;
  }
  const std::string dir = test::temp_dir();
  std::string args;
  for (size_t i = 0; i < runs.size(); ++i) {
    const TorchvisionRun& r = runs[i];
    const Case& c = r.c;
    const std::string in = dir + "/in" + std::to_string(i) + ".bin";
    std::ofstream f(in, std::ios::binary);
    const int64_t header[9] = {c.batch,    c.height,   c.width,          c.channels,   c.rois,
                               c.pooled_h, c.pooled_w, c.sampling_ratio, r.f32 ? 0 : 1};
    f.write(reinterpret_cast<const char*>(header), sizeof(header));
    f.write(reinterpret_cast<const char*>(&c.spatial_scale), sizeof(double));
    for (const Tensor* t : {&r.map, &r.rois, &r.grad}) {
      f.write(static_cast<const char*>(t->raw_data()), static_cast<std::streamsize>(t->nbytes()));
    }
    args += " " + in + " " + dir + "/out" + std::to_string(i) + ".bin";
  }
  const std::string script = test::source_dir() + "/tests/ops/roi_align_torchvision.py";
  const int rc = std::system((python + " " + script + args + " >" + dir + "/log.txt 2>&1").c_str());
  if (rc != 0 && WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
    why = "torchvision's roi_align is not usable (see " + dir + "/log.txt)";
    return false;
  }
  EXPECT_EQ(rc, 0) << "roi_align_torchvision.py failed; see " << dir << "/log.txt";
  for (size_t i = 0; i < runs.size(); ++i) {
    TorchvisionRun& r = runs[i];
    r.ref_pooled = Tensor::empty(pooled_shape(r.c), DType::kF64);
    r.ref_grad = Tensor::empty(map_shape(r.c), DType::kF64);
    std::ifstream f(dir + "/out" + std::to_string(i) + ".bin", std::ios::binary);
    f.read(static_cast<char*>(r.ref_pooled.raw_data()), static_cast<std::streamsize>(r.ref_pooled.nbytes()));
    f.read(static_cast<char*>(r.ref_grad.raw_data()), static_cast<std::streamsize>(r.ref_grad.nbytes()));
    EXPECT_TRUE(f.good()) << "short output from roi_align_torchvision.py for " << r.c.name;
  }
  return true;
}

TEST(RoiAlign, MatchesTorchvision) {
  std::vector<TorchvisionRun> runs;
  for (const Case& c : small_cases()) {
    for (const bool f32 : {false, true}) {
      const DType dt = f32 ? DType::kF32 : DType::kF64;
      TorchvisionRun r;
      r.c = c;
      r.f32 = f32;
      // torchvision reads what we read: values rounded through f32 in the f32 runs.
      r.map = test::to_dtype(test::random_tensor(map_shape(c), dt, c.seed), DType::kF64);
      r.rois = test::to_dtype(test::to_dtype(random_rois(c), dt), DType::kF64);
      r.grad = test::to_dtype(test::random_tensor(pooled_shape(c), dt, c.seed + 100), DType::kF64);
      runs.push_back(r);
    }
  }
  std::string why;
  if (!run_torchvision(runs, why)) GTEST_SKIP() << why;
  for (const TorchvisionRun& r : runs) {
    const DType dt = r.f32 ? DType::kF32 : DType::kF64;
    const double tol = r.f32 ? kF32Tol : kF64Tol;
    const Tensor pooled = forward(test::to_dtype(r.map, dt), test::to_dtype(r.rois, dt), r.c);
    const Tensor gi = backward(test::to_dtype(r.grad, dt), test::to_dtype(r.rois, dt), r.c);
    const std::string what = std::string(r.c.name) + (r.f32 ? " f32" : " f64");
    EXPECT_LE(rel_diff(test::to_dtype(pooled, DType::kF64), r.ref_pooled), tol) << what;
    EXPECT_LE(rel_diff(test::to_dtype(gi, DType::kF64), r.ref_grad), tol) << what;
  }
}

TEST(RoiAlign, BackwardMatchesFiniteDifferences) {
  for (const Case& c : {small_cases()[0], small_cases()[1], small_cases()[2]}) {
    Case s = c;
    s.channels = 2;  // one finite difference per input element
    Tensor map = test::random_tensor(map_shape(s), DType::kF64, s.seed);
    const Tensor rois = random_rois(s);
    const Tensor w = test::random_tensor(pooled_shape(s), DType::kF64, s.seed + 1);
    Tensor out = Tensor::empty(pooled_shape(s), DType::kF64);
    auto loss = [&] {
      ops::roi_align_forward(map, rois, options(s), out);
      return test::weighted_sum(out, w);
    };
    EXPECT_LE(test::max_abs_diff(backward(w, rois, s), test::numerical_gradient(loss, map)), kGradTol) << s.name;
  }
}

// <forward(x), g> = <x, backward(g)> for any x and g: the backward is the forward's adjoint.
TEST(RoiAlign, BackwardIsTheAdjointOfForward) {
  for (const Case& c : small_cases()) {
    const Tensor x = test::random_tensor(map_shape(c), DType::kF64, c.seed + 2);
    const Tensor g = test::random_tensor(pooled_shape(c), DType::kF64, c.seed + 3);
    const Tensor rois = random_rois(c);
    const double lhs = test::weighted_sum(forward(x, rois, c), g);
    const double rhs = test::weighted_sum(x, backward(g, rois, c));
    EXPECT_NEAR(lhs, rhs, kAdjointTol * (1.0 + std::abs(lhs))) << c.name;
  }
}

TEST(RoiAlign, F32MatchesF64) {
  for (const Case& c : small_cases()) {
    const Tensor x = test::to_dtype(test::random_tensor(map_shape(c), DType::kF32, c.seed), DType::kF64);
    const Tensor g = test::to_dtype(test::random_tensor(pooled_shape(c), DType::kF32, c.seed + 1), DType::kF64);
    const Tensor rois = test::to_dtype(test::to_dtype(random_rois(c), DType::kF32), DType::kF64);
    const Tensor rois32 = test::to_dtype(rois, DType::kF32);
    EXPECT_LE(
        rel_diff(test::to_dtype(forward(test::to_dtype(x, DType::kF32), rois32, c), DType::kF64), forward(x, rois, c)),
        kF32Tol)
        << c.name;
    EXPECT_LE(rel_diff(test::to_dtype(backward(test::to_dtype(g, DType::kF32), rois32, c), DType::kF64),
                       backward(g, rois, c)),
              kF32Tol)
        << c.name;
  }
}

TEST(RoiAlign, DeterministicAcrossThreadCounts) {
  Case c{"many ROIs on one map", 2, 25, 34, 96, 300, 7, 7, 0.125, 0, 11};
  const Tensor x = test::random_tensor(map_shape(c), DType::kF32, 1);
  const Tensor g = test::random_tensor(pooled_shape(c), DType::kF32, 2);
  const Tensor rois = test::to_dtype(random_rois(c), DType::kF32);
  const int saved = omp_get_max_threads();
  Tensor out[2], gi[2];
  for (int t = 0; t < 2; ++t) {
    omp_set_num_threads(t == 0 ? 1 : 3);
    out[t] = forward(x, rois, c);
    gi[t] = backward(g, rois, c);
  }
  omp_set_num_threads(saved);
  EXPECT_EQ(std::memcmp(out[0].raw_data(), out[1].raw_data(), out[0].nbytes()), 0);
  EXPECT_EQ(std::memcmp(gi[0].raw_data(), gi[1].raw_data(), gi[0].nbytes()), 0);
}

TEST(RoiAlign, NoRoisAndEmptyBins) {
  Case c{"no ROIs", 2, 4, 5, 3, 0, 2, 2, 1.0, 0, 12};
  const Tensor gi = backward(Tensor::empty(pooled_shape(c), DType::kF64), Tensor::empty({0, 5}, DType::kF64), c);
  EXPECT_EQ(test::max_abs_diff(gi, Tensor::zeros(map_shape(c), DType::kF64)), 0.0);  // poisoned before
  // A reversed box with the adaptive grid has no samples: it pools to 0 and passes no gradient.
  c.rois = 1;
  Tensor rois = Tensor::empty({1, 5}, DType::kF64);
  const double box[5] = {1, 4.0, 3.0, 1.5, 0.5};
  std::memcpy(rois.data<double>(), box, sizeof(box));
  EXPECT_EQ(test::max_abs_diff(forward(test::random_tensor(map_shape(c), DType::kF64, 1), rois, c),
                               Tensor::zeros(pooled_shape(c), DType::kF64)),
            0.0);
  EXPECT_EQ(test::max_abs_diff(backward(test::random_tensor(pooled_shape(c), DType::kF64, 2), rois, c),
                               Tensor::zeros(map_shape(c), DType::kF64)),
            0.0);
}

// One ROI row replaced in a valid set of 4 over a 2-image map; `pieces` must appear in the error.
void expect_bad_roi(int64_t k, std::vector<double> row, const std::vector<std::string>& pieces,
                    const ops::RoiAlignOptions& opt = {}) {
  Tensor rois = Tensor::empty({4, 5}, DType::kF32);
  for (int64_t i = 0; i < 4; ++i) {
    const float r[5] = {static_cast<float>(i % 2), 1.5f, 2.0f, 6.5f, 7.25f};
    std::memcpy(rois.data<float>() + i * 5, r, sizeof(r));
  }
  for (int j = 0; j < 5; ++j) rois.data<float>()[k * 5 + j] = static_cast<float>(row[static_cast<size_t>(j)]);
  const Tensor x = test::random_tensor({2, 8, 9, 4}, DType::kF32, 3);
  Tensor out = Tensor::empty({4, 3, 3, 4}), gi = Tensor::empty({2, 8, 9, 4});
  std::vector<std::string> fwd = pieces, bwd = pieces;
  fwd.insert(fwd.begin(), "roi_align_forward: ");
  bwd.insert(bwd.begin(), "roi_align_backward: ");
  test::expect_error([&] { ops::roi_align_forward(x, rois, opt, out); }, fwd);
  test::expect_error([&] { ops::roi_align_backward(out, rois, opt, gi); }, bwd);
}

TEST(RoiAlign, BadRoisNameTheRoiAndTheValue) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  expect_bad_roi(2, {2.5, 1, 1, 2, 2}, {"rois[2, 0]", "batch index of ROI 2", "integer in [0, 2)", "got 2.5"});
  expect_bad_roi(3, {2, 1, 1, 2, 2}, {"rois[3, 0]", "integer in [0, 2)", "got 2"});
  expect_bad_roi(0, {-1, 1, 1, 2, 2}, {"rois[0, 0]", "got -1"});
  expect_bad_roi(1, {nan, 1, 1, 2, 2}, {"rois[1, 0]", "got nan"});
  expect_bad_roi(1, {0, 1, nan, 2, 2}, {"rois[1, 1:5]", "ROI 1", "finite", "got (1, nan, 2, 2)"});
  expect_bad_roi(3, {1, 1, 1, inf, 2}, {"rois[3, 1:5]", "got (1, 1, inf, 2)"});
  ops::RoiAlignOptions big;
  big.spatial_scale = 1e36;  // finite boxes that overflow f32 once scaled
  expect_bad_roi(0, {0, 1, 1, 2000, 2}, {"rois[0, 1:5]", "finite after spatial_scale 1e+36"}, big);
  expect_bad_roi(2, {0, -1e5, 1, 1e5, 2}, {"rois[2]", "ROI 2", "adaptive sampling grid", "sampling_ratio > 0"});
  ops::RoiAlignOptions fixed;
  fixed.sampling_ratio = 2;  // the same box with a fixed grid is fine
  Tensor rois = Tensor::empty({1, 5}, DType::kF32);
  const float r[5] = {0, -1e5f, 1, 1e5f, 2};
  std::memcpy(rois.data<float>(), r, sizeof(r));
  Tensor out = Tensor::empty({1, 3, 3, 4});
  EXPECT_NO_THROW(ops::roi_align_forward(test::random_tensor({1, 8, 9, 4}, DType::kF32, 4), rois, fixed, out));
}

TEST(RoiAlign, BadShapesDtypesAndOptionsThrow) {
  const Tensor x = test::random_tensor({2, 8, 9, 4}, DType::kF32, 5);
  Tensor rois = Tensor::zeros({3, 5});
  Tensor out = Tensor::empty({3, 2, 2, 4});
  const ops::RoiAlignOptions opt;
  EXPECT_NO_THROW(ops::roi_align_forward(x, rois, opt, out));
  test::expect_error(
      [&] {
        ops::roi_align_forward(x.view({2, 72, 4}), rois, opt, out);
      },
      {"roi_align_forward: input must be [B,H,W,C] (channels-last)", "[2,72,4]"});
  test::expect_error(
      [&] {
        ops::roi_align_forward(x, Tensor::zeros({3, 4}), opt, out);
      },
      {"roi_align_forward: rois must be [K,5]", "[3,4]"});
  test::expect_error(
      [&] {
        ops::roi_align_forward(x, Tensor::zeros({3, 5}, DType::kF64), opt, out);
      },
      {"roi_align_forward: rois must be f32", "f64"});
  Tensor out_k = Tensor::empty({2, 2, 2, 4}), out_c = Tensor::empty({3, 2, 2, 5}), out_0 = Tensor::empty({3, 0, 2, 4});
  test::expect_error([&] { ops::roi_align_forward(x, rois, opt, out_k); },
                     {"roi_align_forward: output must have shape [3,2,2,4]", "[2,2,2,4]"});
  test::expect_error([&] { ops::roi_align_forward(x, rois, opt, out_c); }, {"output must have shape [3,2,2,4]"});
  test::expect_error([&] { ops::roi_align_forward(x, rois, opt, out_0); }, {"output", "1 <= ph, pw"});
  Tensor out64 = Tensor::empty({3, 2, 2, 4}, DType::kF64);
  test::expect_error([&] { ops::roi_align_forward(x, rois, opt, out64); }, {"output must be f32", "f64"});
  test::expect_error(
      [&] {
        ops::roi_align_forward(Tensor::zeros({1, 0, 3, 4}), rois, opt, out);
      },
      {"input must be [B,H,W,C] with 1 <= H, W"});
  ops::RoiAlignOptions bad = opt;
  bad.spatial_scale = 0;
  test::expect_error([&] { ops::roi_align_forward(x, rois, bad, out); }, {"spatial_scale must be finite and > 0"});
  bad = opt;
  bad.sampling_ratio = 2000;
  test::expect_error([&] { ops::roi_align_forward(x, rois, bad, out); }, {"sampling_ratio must be <= 1024", "2000"});
  Tensor gi = Tensor::empty({2, 8, 9, 4});
  test::expect_error([&] { ops::roi_align_backward(out_k, rois, opt, gi); },
                     {"roi_align_backward: grad_output must have shape [3,2,2,4]"});
  Tensor gi_empty = Tensor::zeros({2, 0, 9, 4});
  test::expect_error([&] { ops::roi_align_backward(out, rois, opt, gi_empty); },
                     {"roi_align_backward: grad_input must be [B,H,W,C] with 1 <= H, W"});
}

TEST(RoiAlign, DeterministicSwitchReadsTheEnvironment) {
  {
    test::ScopedEnv unset(env::kDeterministic, nullptr);
    EXPECT_FALSE(ops::resolve_roi_align_deterministic(false));
    EXPECT_TRUE(ops::resolve_roi_align_deterministic(true));
  }
  {
    test::ScopedEnv on(env::kDeterministic, "1");
    EXPECT_TRUE(ops::resolve_roi_align_deterministic(false));
  }
  test::ScopedEnv bad(env::kDeterministic, "yes");
  test::expect_error([] { ops::resolve_roi_align_deterministic(false); }, {env::kDeterministic, "0 or 1", "yes"});
}

}  // namespace
}  // namespace attncamp
