// Tests for ops::dropout_forward/backward: the mask follows philox_uniform exactly, kept
// fraction near 1-p, same mask for the same (seed, offset), different for another offset,
// equal masks in f32 and f64, backward regenerating the forward mask, p == 0, and checks.
#include "ops/dropout.h"

#include <gtest/gtest.h>

#include <cmath>

#include "runtime/rng.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

// Kept fraction of n Bernoulli(1-p) draws: standard deviation sqrt(p(1-p)/n) ~ 0.0016 here;
// 5 sigma.
constexpr double kFractionTol = 0.008;
constexpr int64_t kN = 100003;
// Central differences of a loss linear in x: only rounding error (~1e-10).
constexpr double kGradTol = 1e-8;  // odd size: the tail is not a multiple of 4

double value(const Tensor& t, int64_t i) { return t.dtype() == DType::kF32 ? t.data<float>()[i] : t.data<double>()[i]; }

TEST(Dropout, MaskFollowsPhiloxAndScales) {
  const double p = 0.3;
  const uint64_t seed = 1234, offset = 7;  // unaligned offset: the first Philox block is partial
  for (DType dt : {DType::kF32, DType::kF64}) {
    const Tensor x = test::random_tensor({kN}, dt, 1, 0.5, 1.5);  // never zero
    Tensor y = Tensor::empty({kN}, dt);
    y.poison();
    ops::dropout_forward(x, p, seed, offset, y);
    int64_t kept = 0;
    for (int64_t i = 0; i < kN; ++i) {
      const bool keep = philox_uniform(seed, static_cast<uint64_t>(RngStream::kDropout), offset + i) >= p;
      const double expect =
          keep ? value(x, i) *
                     (dt == DType::kF32 ? static_cast<double>(static_cast<float>(1.0 / (1.0 - p))) : 1.0 / (1.0 - p))
               : 0.0;
      ASSERT_NEAR(value(y, i), expect, dt == DType::kF32 ? 1e-6 : 1e-15) << "i=" << i;
      kept += keep;
    }
    EXPECT_NEAR(static_cast<double>(kept) / kN, 1.0 - p, kFractionTol);
  }
}

TEST(Dropout, SameMaskForSameOffsetAndAcrossDtypes) {
  const double p = 0.5;
  const Tensor x64 = test::random_tensor({4, 1001}, DType::kF64, 2, 0.5, 1.5);
  const Tensor x32 = test::to_dtype(x64, DType::kF32);
  Tensor a = Tensor::empty(x64.shape(), DType::kF64), b = Tensor::empty(x64.shape(), DType::kF64),
         c = Tensor::empty(x64.shape(), DType::kF64), d = Tensor::empty(x64.shape(), DType::kF32);
  ops::dropout_forward(x64, p, 9, 100, a);
  ops::dropout_forward(x64, p, 9, 100, b);
  ops::dropout_forward(x64, p, 9, 100 + x64.numel(), c);
  ops::dropout_forward(x32, p, 9, 100, d);
  EXPECT_EQ(test::max_abs_diff(a, b), 0.0);
  int64_t same = 0, mask_mismatch_f32 = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    same += (a.data<double>()[i] == 0) == (c.data<double>()[i] == 0);
    mask_mismatch_f32 += (a.data<double>()[i] == 0) != (d.data<float>()[i] == 0);
  }
  EXPECT_LT(same, a.numel() * 0.6);  // independent masks agree on ~half the elements
  EXPECT_EQ(mask_mismatch_f32, 0);
  // Different seed, same offset: different mask.
  ops::dropout_forward(x64, p, 10, 100, c);
  EXPECT_GT(test::max_abs_diff(a, c), 0.0);
}

TEST(Dropout, BackwardRegeneratesMask) {
  const double p = 0.2;
  const Tensor x = test::random_tensor({3, 333}, DType::kF64, 3, 0.5, 1.5);
  const Tensor dy = test::random_tensor({3, 333}, DType::kF64, 4, 0.5, 1.5);
  Tensor y = Tensor::empty(x.shape(), DType::kF64), dx = Tensor::empty(x.shape(), DType::kF64);
  dx.poison();
  ops::dropout_forward(x, p, 5, 3, y);
  ops::dropout_backward(dy, p, 5, 3, dx);
  // The op is linear: dx = mask * scale * dy, i.e. dx/dy == y/x elementwise.
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_NEAR(dx.data<double>()[i] / dy.data<double>()[i], y.data<double>()[i] / x.data<double>()[i], 1e-14);
  }
  // Finite differences of loss = sum(dropout(x) * w) on a small input: the gradient is w * mask * scale.
  Tensor xs = test::random_tensor({3, 21}, DType::kF64, 7);
  const Tensor ws = test::random_tensor({3, 21}, DType::kF64, 8);
  Tensor ys = Tensor::empty(xs.shape(), DType::kF64), dxs = Tensor::empty(xs.shape(), DType::kF64);
  dxs.poison();
  auto loss = [&] {
    ops::dropout_forward(xs, p, 5, 3, ys);
    return test::weighted_sum(ys, ws);
  };
  ops::dropout_backward(ws, p, 5, 3, dxs);
  EXPECT_LE(test::max_abs_diff(dxs, test::numerical_gradient(loss, xs)), kGradTol);
}

TEST(Dropout, ZeroProbabilityCopiesAndBadArgumentsThrow) {
  const Tensor x = test::random_tensor({5, 7}, DType::kF32, 6);
  Tensor y = Tensor::empty({5, 7});
  y.poison();
  ops::dropout_forward(x, 0.0, 1, 0, y);
  EXPECT_EQ(test::max_abs_diff(x, y), 0.0);
  ops::dropout_backward(x, 0.0, 1, 0, y);
  EXPECT_EQ(test::max_abs_diff(x, y), 0.0);
  Tensor y_bad = Tensor::empty({5, 6}), y64 = Tensor::empty({5, 7}, DType::kF64);
  EXPECT_THROW(ops::dropout_forward(x, 1.0, 1, 0, y), Error);
  EXPECT_THROW(ops::dropout_forward(x, -0.1, 1, 0, y), Error);
  EXPECT_THROW(ops::dropout_forward(x, 0.5, 1, 0, y_bad), Error);
  EXPECT_THROW(ops::dropout_forward(x, 0.5, 1, 0, y64), Error);
  EXPECT_THROW(ops::dropout_backward(x, 0.5, 1, 0, y_bad), Error);
}

}  // namespace
}  // namespace attncamp
