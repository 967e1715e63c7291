// Tests for optimizer steps and gradient clipping: several AdamW and SGD steps against scalar
// loops written from the torch.optim formulas (masks, nesterov, first step), and clip_grad_norm_
// on known vectors, its scaling, non-finite norms and thread-count independence.
#include "ops/optimizer.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "ops/clip_grad.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

constexpr int64_t kN = 1037;  // not a multiple of any vector width
constexpr double kTolF64 = 1e-13;

Tensor make_mask(int64_t n) {
  Tensor m = Tensor::empty({n}, DType::kU8);
  for (int64_t i = 0; i < n; ++i) m.data<uint8_t>()[i] = (i % 3 == 0) ? 0 : 1;
  return m;
}

std::vector<double> as_vec(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.dtype() == DType::kF32 ? t.data<float>()[i] : t.data<double>()[i];
  return v;
}

double max_diff(const Tensor& t, const std::vector<double>& want) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double x = t.dtype() == DType::kF32 ? t.data<float>()[i] : t.data<double>()[i];
    m = std::max(m, std::fabs(x - want[i]));
    if (std::isnan(x)) return INFINITY;
  }
  return m;
}

void run_adamw_case(DType dt, double tol) {
  Tensor params = test::random_tensor({kN}, dt, 1);
  Tensor m = Tensor::zeros({kN}, dt), v = Tensor::zeros({kN}, dt);
  Tensor mask = make_mask(kN);
  std::vector<double> rp = as_vec(params), rm(kN, 0.0), rv(kN, 0.0);
  ops::AdamWParams p;
  p.lr = 3e-3;
  p.beta1 = 0.8;
  p.beta2 = 0.95;
  p.eps = 1e-6;
  p.weight_decay = 0.05;
  for (int64_t step = 1; step <= 5; ++step) {
    Tensor grads = test::random_tensor({kN}, dt, 100 + step);
    const std::vector<double> g = as_vec(grads);
    p.step = step;
    ops::adamw_step(params, grads, m, v, mask, p);
    for (int64_t i = 0; i < kN; ++i) {
      if (mask.data<uint8_t>()[i]) rp[i] *= 1 - p.lr * p.weight_decay;
      rm[i] = p.beta1 * rm[i] + (1 - p.beta1) * g[i];
      rv[i] = p.beta2 * rv[i] + (1 - p.beta2) * g[i] * g[i];
      const double bc1 = 1 - std::pow(p.beta1, step), bc2 = 1 - std::pow(p.beta2, step);
      rp[i] -= p.lr / bc1 * rm[i] / (std::sqrt(rv[i]) / std::sqrt(bc2) + p.eps);
    }
  }
  EXPECT_LE(max_diff(params, rp), tol);
  EXPECT_LE(max_diff(m, rm), tol);
  EXPECT_LE(max_diff(v, rv), tol);
}

TEST(AdamW, MatchesTorchFormulaF64) { run_adamw_case(DType::kF64, kTolF64); }
TEST(AdamW, MatchesTorchFormulaF32) { run_adamw_case(DType::kF32, 1e-6); }

TEST(AdamW, MaskedElementsAreNotDecayed) {
  // Zero gradients: only the decay moves parameters.
  Tensor params = Tensor::empty({4}, DType::kF64);
  params.fill(2.0);
  Tensor grads = Tensor::zeros({4}, DType::kF64), m = Tensor::zeros({4}, DType::kF64),
         v = Tensor::zeros({4}, DType::kF64);
  Tensor mask = Tensor::zeros({4}, DType::kU8);
  mask.data<uint8_t>()[1] = 1;
  ops::AdamWParams p;
  p.lr = 0.1;
  p.weight_decay = 0.5;
  ops::adamw_step(params, grads, m, v, mask, p);
  EXPECT_EQ(params.data<double>()[0], 2.0);
  EXPECT_DOUBLE_EQ(params.data<double>()[1], 2.0 * (1 - 0.05));
  EXPECT_EQ(params.data<double>()[3], 2.0);
}

void run_sgd_case(double momentum, bool nesterov, double wd) {
  Tensor params = test::random_tensor({kN}, DType::kF64, 2);
  Tensor buf = Tensor::empty({kN}, DType::kF64);
  buf.poison();  // the first step must overwrite it
  Tensor mask = make_mask(kN);
  std::vector<double> rp = as_vec(params), rb(kN, 0.0);
  ops::SgdParams p;
  p.lr = 0.05;
  p.momentum = momentum;
  p.weight_decay = wd;
  p.nesterov = nesterov;
  for (int step = 1; step <= 4; ++step) {
    Tensor grads = test::random_tensor({kN}, DType::kF64, 200 + step);
    const std::vector<double> g = as_vec(grads);
    Tensor none;
    ops::sgd_step(params, grads, momentum != 0 ? buf : none, mask, p, step == 1);
    for (int64_t i = 0; i < kN; ++i) {
      double d = g[i] + (mask.data<uint8_t>()[i] ? wd * rp[i] : 0.0);
      if (momentum != 0) {
        rb[i] = step == 1 ? d : momentum * rb[i] + d;
        d = nesterov ? d + momentum * rb[i] : rb[i];
      }
      rp[i] -= p.lr * d;
    }
  }
  EXPECT_LE(max_diff(params, rp), kTolF64);
  if (momentum != 0) {
    EXPECT_LE(max_diff(buf, rb), kTolF64);
  }
}

TEST(Sgd, PlainMatchesTorchFormula) { run_sgd_case(0.0, false, 0.01); }
TEST(Sgd, MomentumMatchesTorchFormula) { run_sgd_case(0.9, false, 0.01); }
TEST(Sgd, NesterovMatchesTorchFormula) { run_sgd_case(0.9, true, 0.0); }
TEST(Sgd, NesterovWithDecayMatchesTorchFormula) { run_sgd_case(0.8, true, 0.1); }

TEST(Sgd, FirstStepSetsBufferToGradient) {
  Tensor params = Tensor::zeros({3}, DType::kF64), grads = Tensor::empty({3}, DType::kF64);
  grads.fill(2.0);
  Tensor buf = Tensor::empty({3}, DType::kF64);
  buf.fill(100.0);
  ops::SgdParams p;
  p.lr = 0.5;
  p.momentum = 0.9;
  ops::sgd_step(params, grads, buf, make_mask(3), p, true);
  EXPECT_EQ(buf.data<double>()[0], 2.0);
  EXPECT_EQ(params.data<double>()[0], -1.0);
  ops::sgd_step(params, grads, buf, make_mask(3), p, false);
  EXPECT_DOUBLE_EQ(buf.data<double>()[0], 0.9 * 2.0 + 2.0);
}

TEST(Optimizer, BadShapesThrow) {
  Tensor params = Tensor::zeros({8}), grads = Tensor::zeros({8}), m = Tensor::zeros({8}), v = Tensor::zeros({8});
  Tensor mask = Tensor::zeros({8}, DType::kU8);
  ops::AdamWParams a;
  EXPECT_NO_THROW(ops::adamw_step(params, grads, m, v, mask, a));
  Tensor short_g = Tensor::zeros({7});
  EXPECT_THROW(ops::adamw_step(params, short_g, m, v, mask, a), Error);
  Tensor v64 = Tensor::zeros({8}, DType::kF64);
  EXPECT_THROW(ops::adamw_step(params, grads, m, v64, mask, a), Error);
  Tensor fmask = Tensor::zeros({8});
  EXPECT_THROW(ops::adamw_step(params, grads, m, v, fmask, a), Error);
  a.step = 0;
  EXPECT_THROW(ops::adamw_step(params, grads, m, v, mask, a), Error);
  ops::SgdParams s;
  s.momentum = 0.9;
  Tensor none;
  EXPECT_THROW(ops::sgd_step(params, grads, none, mask, s, true), Error);
  s.momentum = 0;
  EXPECT_NO_THROW(ops::sgd_step(params, grads, none, mask, s, true));
}

TEST(ClipGrad, KnownNorm) {
  Tensor g = Tensor::empty({2});
  g.data<float>()[0] = 3;
  g.data<float>()[1] = 4;
  EXPECT_EQ(ops::global_norm(g), 5.0);
  EXPECT_EQ(ops::clip_grad_norm_(g, 10.0), 5.0);  // below the limit: unchanged
  EXPECT_EQ(g.data<float>()[0], 3.0f);
  EXPECT_EQ(ops::clip_grad_norm_(g, 1.0), 5.0);
  EXPECT_FLOAT_EQ(g.data<float>()[0], static_cast<float>(3 * 1.0 / (5 + 1e-6)));
  EXPECT_FLOAT_EQ(g.data<float>()[1], static_cast<float>(4 * 1.0 / (5 + 1e-6)));
  EXPECT_NEAR(ops::global_norm(g), 1.0, 1e-6);
}

TEST(ClipGrad, ScalesLargeBuffer) {
  Tensor g = test::random_tensor({50001}, DType::kF64, 9);
  double sq = 0;
  for (int64_t i = 0; i < g.numel(); ++i) sq += g.data<double>()[i] * g.data<double>()[i];
  const double norm = std::sqrt(sq);
  std::vector<double> before = as_vec(g);
  const double got = ops::clip_grad_norm_(g, 2.0);
  EXPECT_NEAR(got, norm, 1e-12 * norm);
  for (int64_t i = 0; i < g.numel(); ++i) ASSERT_EQ(g.data<double>()[i], before[i] * (2.0 / (got + 1e-6)));
  EXPECT_THROW(ops::clip_grad_norm_(g, 0.0), Error);
}

TEST(ClipGrad, NonFiniteNormIsReturnedUnscaled) {
  Tensor g = test::random_tensor({100}, DType::kF32, 10);
  g.data<float>()[17] = INFINITY;
  const float kept = g.data<float>()[3];
  EXPECT_TRUE(std::isinf(ops::clip_grad_norm_(g, 1.0)));
  EXPECT_EQ(g.data<float>()[3], kept);
  g.data<float>()[17] = NAN;
  EXPECT_TRUE(std::isnan(ops::clip_grad_norm_(g, 1.0)));
  EXPECT_EQ(g.data<float>()[3], kept);
}

TEST(ClipGrad, NormIndependentOfThreadCount) {
  Tensor g = test::random_tensor({123457}, DType::kF32, 11);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const double a = ops::global_norm(g);
  omp_set_num_threads(3);
  const double b = ops::global_norm(g);
  omp_set_num_threads(saved);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace attncamp
