// Tests for the CPU residual-add layer norm (ops::add_layernorm_forward/backward): the forward
// pass equals an add followed by layernorm_forward, in place too; finite-difference gradients in
// f64 of a loss that reads both y and the residual stream sum_out; the backward pass without a
// residual gradient equals layernorm_backward; and shape checks.
#include <gtest/gtest.h>

#include "ops/layernorm.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

constexpr double kEps = 1e-5;
// Central differences (step 1e-6) of a smooth f64 loss: truncation ~1e-12, rounding ~1e-10.
constexpr double kGradTol = 1e-7;

Tensor f64(const Shape& shape) { return Tensor::empty(shape, DType::kF64); }

Tensor minus(const Tensor& a, const Tensor& b) {
  Tensor d = a.clone();
  for (int64_t i = 0; i < d.numel(); ++i) d.data<double>()[i] -= b.data<double>()[i];
  return d;
}

TEST(AddLayerNorm, ForwardIsAddThenLayerNorm) {
  const int64_t rows = 6, cols = 37;
  const Tensor x = test::random_tensor({2, 3, cols}, DType::kF64, 1, -2.0, 3.0);
  const Tensor res = test::random_tensor({2, 3, cols}, DType::kF64, 2, -1.0, 1.0);
  const Tensor gamma = test::random_tensor({cols}, DType::kF64, 3, 0.5, 1.5);
  const Tensor beta = test::random_tensor({cols}, DType::kF64, 4);
  Tensor sum = f64(x.shape()), y = f64(x.shape()), mean = f64({rows}), rstd = f64({rows});
  for (Tensor* t : {&sum, &y, &mean, &rstd}) t->poison();
  ops::add_layernorm_forward(x, res, gamma, beta, kEps, sum, y, mean, rstd);
  Tensor want_sum = f64(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) want_sum.data<double>()[i] = x.data<double>()[i] + res.data<double>()[i];
  Tensor want_y = f64(x.shape()), want_mean = f64({rows}), want_rstd = f64({rows});
  ops::layernorm_forward(want_sum, gamma, beta, kEps, want_y, want_mean, want_rstd);
  EXPECT_EQ(test::max_abs_diff(sum, want_sum), 0.0);
  EXPECT_EQ(test::max_abs_diff(y, want_y), 0.0);
  EXPECT_EQ(test::max_abs_diff(mean, want_mean), 0.0);
  EXPECT_EQ(test::max_abs_diff(rstd, want_rstd), 0.0);

  // The residual stream updated in place (sum_out is the residual tensor).
  Tensor stream = res.clone(), y2 = f64(x.shape());
  ops::add_layernorm_forward(x, stream, gamma, beta, kEps, stream, y2, mean, rstd);
  EXPECT_EQ(test::max_abs_diff(stream, want_sum), 0.0);
  EXPECT_EQ(test::max_abs_diff(y2, want_y), 0.0);
}

TEST(AddLayerNorm, BackwardMatchesFiniteDifferences) {
  const int64_t rows = 6, cols = 7;
  Tensor x = test::random_tensor({rows, cols}, DType::kF64, 10, -2.0, 2.0);
  Tensor res = test::random_tensor({rows, cols}, DType::kF64, 11, -1.0, 1.0);
  Tensor gamma = test::random_tensor({cols}, DType::kF64, 12, 0.5, 1.5);
  Tensor beta = test::random_tensor({cols}, DType::kF64, 13);
  const Tensor wy = test::random_tensor({rows, cols}, DType::kF64, 14);  // dL/dy
  const Tensor ws = test::random_tensor({rows, cols}, DType::kF64, 15);  // dL/dsum_out along the residual stream
  Tensor sum = f64(x.shape()), y = f64(x.shape()), mean = f64({rows}), rstd = f64({rows});
  auto loss = [&] {
    ops::add_layernorm_forward(x, res, gamma, beta, kEps, sum, y, mean, rstd);
    return test::weighted_sum(y, wy) + test::weighted_sum(sum, ws);
  };
  loss();
  const Tensor dg0 = test::random_tensor({cols}, DType::kF64, 16);
  const Tensor db0 = test::random_tensor({cols}, DType::kF64, 17);
  Tensor dx = f64(x.shape()), dgamma = dg0.clone(), dbeta = db0.clone();
  dx.poison();
  ops::add_layernorm_backward(wy, ws, sum, gamma, mean, rstd, dx, dgamma, dbeta);
  EXPECT_LE(test::max_abs_diff(dx, test::numerical_gradient(loss, x)), kGradTol);
  EXPECT_LE(test::max_abs_diff(dx, test::numerical_gradient(loss, res)), kGradTol);
  EXPECT_LE(test::max_abs_diff(minus(dgamma, dg0), test::numerical_gradient(loss, gamma)), kGradTol);
  EXPECT_LE(test::max_abs_diff(minus(dbeta, db0), test::numerical_gradient(loss, beta)), kGradTol);

  // dx_total may be the residual-gradient tensor itself.
  loss();
  Tensor inplace = ws.clone(), dg = dg0.clone(), db = db0.clone();
  ops::add_layernorm_backward(wy, inplace, sum, gamma, mean, rstd, inplace, dg, db);
  EXPECT_EQ(test::max_abs_diff(inplace, dx), 0.0);
}

TEST(AddLayerNorm, NoResidualGradientIsLayerNormBackward) {
  const int64_t rows = 40, cols = 33;
  const Tensor x = test::random_tensor({rows, cols}, DType::kF32, 20, -2.0, 2.0);
  const Tensor res = test::random_tensor({rows, cols}, DType::kF32, 21);
  const Tensor gamma = test::random_tensor({cols}, DType::kF32, 22);
  const Tensor beta = test::random_tensor({cols}, DType::kF32, 23);
  const Tensor dy = test::random_tensor({rows, cols}, DType::kF32, 24);
  Tensor sum = Tensor::empty({rows, cols}), y = Tensor::empty({rows, cols});
  Tensor mean = Tensor::empty({rows}), rstd = Tensor::empty({rows});
  ops::add_layernorm_forward(x, res, gamma, beta, kEps, sum, y, mean, rstd);
  Tensor dx_a = Tensor::empty({rows, cols}), dx_b = Tensor::empty({rows, cols});
  Tensor dg_a = Tensor::zeros({cols}), db_a = Tensor::zeros({cols}), dg_b = Tensor::zeros({cols}),
         db_b = Tensor::zeros({cols});
  ops::add_layernorm_backward(dy, Tensor(), sum, gamma, mean, rstd, dx_a, dg_a, db_a);
  ops::layernorm_backward(dy, sum, gamma, mean, rstd, dx_b, dg_b, db_b);
  EXPECT_EQ(test::max_abs_diff(dx_a, dx_b), 0.0);
  EXPECT_EQ(test::max_abs_diff(dg_a, dg_b), 0.0);
  EXPECT_EQ(test::max_abs_diff(db_a, db_b), 0.0);
}

TEST(AddLayerNorm, BadShapesThrow) {
  const Tensor x = Tensor::zeros({4, 8}), res = Tensor::zeros({4, 8});
  const Tensor g = Tensor::zeros({8}), b = Tensor::zeros({8});
  Tensor sum = Tensor::zeros({4, 8}), y = Tensor::zeros({4, 8}), mean = Tensor::zeros({4}), rstd = Tensor::zeros({4});
  EXPECT_NO_THROW(ops::add_layernorm_forward(x, res, g, b, kEps, sum, y, mean, rstd));
  test::expect_error(
      [&] {
        ops::add_layernorm_forward(x, Tensor::zeros({4, 7}), g, b, kEps, sum, y, mean, rstd);
      },
      {"add_layernorm_forward", "residual", "[4,7]"});
  Tensor sum_bad = Tensor::zeros({4, 8}, DType::kF64);
  test::expect_error([&] { ops::add_layernorm_forward(x, res, g, b, kEps, sum_bad, y, mean, rstd); },
                     {"add_layernorm_forward", "sum_out", "f64"});
  Tensor dx = Tensor::zeros({4, 8}), dg = Tensor::zeros({8}), db = Tensor::zeros({8});
  EXPECT_NO_THROW(ops::add_layernorm_backward(y, res, sum, g, mean, rstd, dx, dg, db));
  test::expect_error(
      [&] {
        ops::add_layernorm_backward(y, Tensor::zeros({4, 9}), sum, g, mean, rstd, dx, dg, db);
      },
      {"add_layernorm_backward", "dsum_in"});
  test::expect_error([&] { ops::add_layernorm_backward(y, res, Tensor(), g, mean, rstd, dx, dg, db); },
                     {"add_layernorm_backward", "sum_out", "undefined"});
}

}  // namespace
}  // namespace attncamp
