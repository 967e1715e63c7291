// Tests for ops::layernorm_forward/backward: normalised rows (mean 0, variance 1), saved
// statistics against plain loops, finite-difference gradients in f64, deterministic
// parameter gradients across thread counts, f32 against f64, and shape checks.
#include "ops/layernorm.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "tests/test_util.h"

namespace attncamp {
namespace {

constexpr double kEps = 1e-5;
constexpr double kStatTolF64 = 1e-12;
// Central differences (step 1e-6) of a smooth f64 loss: truncation ~1e-12, rounding ~1e-10.
constexpr double kGradTol = 1e-7;
constexpr double kF32Tol = 2e-5;

Tensor diff(const Tensor& a, const Tensor& b) {
  Tensor d = a.clone();
  for (int64_t i = 0; i < d.numel(); ++i) d.data<double>()[i] -= b.data<double>()[i];
  return d;
}

TEST(LayerNorm, ForwardNormalisesRows) {
  const int64_t rows = 6, cols = 37;
  const Tensor x = test::random_tensor({2, 3, cols}, DType::kF64, 1, -3.0, 5.0);
  Tensor gamma = Tensor::empty({cols}, DType::kF64), beta = Tensor::zeros({cols}, DType::kF64);
  gamma.fill(1.0);
  Tensor y = Tensor::empty(x.shape(), DType::kF64), mean = Tensor::empty({rows}, DType::kF64),
         rstd = Tensor::empty({rows}, DType::kF64);
  y.poison();
  mean.poison();
  rstd.poison();
  ops::layernorm_forward(x, gamma, beta, kEps, y, mean, rstd);
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0, ym = 0, yv = 0;
    for (int64_t c = 0; c < cols; ++c) m += x.data<double>()[r * cols + c] / cols;
    for (int64_t c = 0; c < cols; ++c) v += std::pow(x.data<double>()[r * cols + c] - m, 2) / cols;
    for (int64_t c = 0; c < cols; ++c) ym += y.data<double>()[r * cols + c] / cols;
    for (int64_t c = 0; c < cols; ++c) yv += std::pow(y.data<double>()[r * cols + c] - ym, 2) / cols;
    EXPECT_NEAR(mean.data<double>()[r], m, kStatTolF64);
    EXPECT_NEAR(rstd.data<double>()[r], 1.0 / std::sqrt(v + kEps), kStatTolF64);
    EXPECT_NEAR(ym, 0.0, kStatTolF64);
    EXPECT_NEAR(yv, v / (v + kEps), kStatTolF64);  // ~1, reduced by eps
  }
}

TEST(LayerNorm, AffineAndF32MatchF64) {
  const int64_t cols = 48;
  const Tensor x = test::random_tensor({50, cols}, DType::kF64, 2, -2.0, 3.0);
  const Tensor gamma = test::random_tensor({cols}, DType::kF64, 3);
  const Tensor beta = test::random_tensor({cols}, DType::kF64, 4);
  Tensor y = Tensor::empty(x.shape(), DType::kF64), mean = Tensor::empty({50}, DType::kF64),
         rstd = Tensor::empty({50}, DType::kF64);
  ops::layernorm_forward(x, gamma, beta, kEps, y, mean, rstd);
  for (int64_t r = 0; r < 50; r += 7) {
    for (int64_t c = 0; c < cols; c += 5) {
      const double xhat = (x.data<double>()[r * cols + c] - mean.data<double>()[r]) * rstd.data<double>()[r];
      EXPECT_NEAR(y.data<double>()[r * cols + c], xhat * gamma.data<double>()[c] + beta.data<double>()[c], kStatTolF64);
    }
  }
  Tensor y32 = Tensor::empty(x.shape()), mean32 = Tensor::empty({50}), rstd32 = Tensor::empty({50});
  y32.poison();
  ops::layernorm_forward(test::to_dtype(x, DType::kF32), test::to_dtype(gamma, DType::kF32),
                         test::to_dtype(beta, DType::kF32), kEps, y32, mean32, rstd32);
  EXPECT_LE(test::max_abs_diff(y32, y), kF32Tol);
  EXPECT_LE(test::max_abs_diff(mean32, mean), kF32Tol);
}

TEST(LayerNorm, BackwardMatchesFiniteDifferences) {
  const int64_t cols = 7;
  Tensor x = test::random_tensor({2, 3, cols}, DType::kF64, 10, -2.0, 2.0);
  Tensor gamma = test::random_tensor({cols}, DType::kF64, 11, 0.5, 1.5);
  Tensor beta = test::random_tensor({cols}, DType::kF64, 12);
  const Tensor wt = test::random_tensor(x.shape(), DType::kF64, 13);
  Tensor y = Tensor::empty(x.shape(), DType::kF64), mean = Tensor::empty({6}, DType::kF64),
         rstd = Tensor::empty({6}, DType::kF64);
  auto loss = [&] {
    ops::layernorm_forward(x, gamma, beta, kEps, y, mean, rstd);
    return test::weighted_sum(y, wt);
  };
  loss();
  Tensor dx = Tensor::empty(x.shape(), DType::kF64);
  dx.poison();
  const Tensor dg0 = test::random_tensor({cols}, DType::kF64, 14);
  const Tensor db0 = test::random_tensor({cols}, DType::kF64, 15);
  Tensor dgamma = dg0.clone(), dbeta = db0.clone();
  ops::layernorm_backward(wt, x, gamma, mean, rstd, dx, dgamma, dbeta);
  EXPECT_LE(test::max_abs_diff(dx, test::numerical_gradient(loss, x)), kGradTol);
  EXPECT_LE(test::max_abs_diff(diff(dgamma, dg0), test::numerical_gradient(loss, gamma)), kGradTol);
  EXPECT_LE(test::max_abs_diff(diff(dbeta, db0), test::numerical_gradient(loss, beta)), kGradTol);
}

TEST(LayerNorm, ParameterGradientsAreDeterministicAcrossThreadCounts) {
  const int64_t rows = 1000, cols = 64;
  const Tensor x = test::random_tensor({rows, cols}, DType::kF32, 20);
  const Tensor dy = test::random_tensor({rows, cols}, DType::kF32, 21);
  const Tensor gamma = test::random_tensor({cols}, DType::kF32, 22);
  const Tensor beta = test::random_tensor({cols}, DType::kF32, 23);
  Tensor y = Tensor::empty({rows, cols}), mean = Tensor::empty({rows}), rstd = Tensor::empty({rows});
  ops::layernorm_forward(x, gamma, beta, kEps, y, mean, rstd);
  const int saved = omp_get_max_threads();
  Tensor results[2][2];
  for (int t = 0; t < 2; ++t) {
    omp_set_num_threads(t == 0 ? 1 : 3);
    Tensor dx = Tensor::empty({rows, cols});
    results[t][0] = Tensor::zeros({cols});
    results[t][1] = Tensor::zeros({cols});
    ops::layernorm_backward(dy, x, gamma, mean, rstd, dx, results[t][0], results[t][1]);
  }
  omp_set_num_threads(saved);
  EXPECT_EQ(test::max_abs_diff(results[0][0], results[1][0]), 0.0);
  EXPECT_EQ(test::max_abs_diff(results[0][1], results[1][1]), 0.0);
}

TEST(LayerNorm, BadShapesThrow) {
  const Tensor x = Tensor::zeros({4, 8});
  const Tensor g = Tensor::zeros({8}), b = Tensor::zeros({8});
  Tensor y = Tensor::zeros({4, 8}), mean = Tensor::zeros({4}), rstd = Tensor::zeros({4});
  Tensor mean_bad = Tensor::zeros({8}), y_bad = Tensor::zeros({4, 7});
  EXPECT_NO_THROW(ops::layernorm_forward(x, g, b, kEps, y, mean, rstd));
  EXPECT_THROW(ops::layernorm_forward(x, Tensor::zeros({7}), b, kEps, y, mean, rstd), Error);
  EXPECT_THROW(ops::layernorm_forward(x, g, b, kEps, y_bad, mean, rstd), Error);
  EXPECT_THROW(ops::layernorm_forward(x, g, b, kEps, y, mean_bad, rstd), Error);
  EXPECT_THROW(ops::layernorm_forward(x, g, Tensor::zeros({8}, DType::kF64), kEps, y, mean, rstd), Error);
  Tensor dx = Tensor::zeros({4, 8}), dg = Tensor::zeros({8}), db = Tensor::zeros({8}), dg_bad = Tensor::zeros({4});
  EXPECT_NO_THROW(ops::layernorm_backward(y, x, g, mean, rstd, dx, dg, db));
  EXPECT_THROW(ops::layernorm_backward(y, x, g, mean, rstd, dx, dg_bad, db), Error);
  EXPECT_THROW(ops::layernorm_backward(y_bad, x, g, mean, rstd, dx, dg, db), Error);
}

}  // namespace
}  // namespace attncamp
