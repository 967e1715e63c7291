// Tests for the element-wise and row-wise ops: GELU (against std::erf, f32 approximation
// against f64), tanh, softmax, add/add_/scale_ and bias_add, with finite-difference
// gradients in f64, poisoned outputs and shape checks.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "ops/bias_add.h"
#include "ops/elementwise.h"
#include "ops/gelu.h"
#include "ops/softmax.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

constexpr double kExactTolF64 = 1e-14;
// Central differences (step 1e-6) of smooth f64 functions of O(1) inputs.
constexpr double kGradTol = 1e-7;
// f32 GELU uses a rational erf and polynomial exp: a few ulp of an O(1) result.
constexpr double kGeluF32Tol = 2e-6;
constexpr double kF32Tol = 1e-6;

Tensor diff(const Tensor& a, const Tensor& b) {
  Tensor d = a.clone();
  for (int64_t i = 0; i < d.numel(); ++i) d.data<double>()[i] -= b.data<double>()[i];
  return d;
}

// Checks the gradient of loss = sum(f(x) * w) computed by `backward(w, dx)` against finite
// differences, for a unary op `forward(x, y)`.
template <class Fwd, class Bwd>
void check_unary_gradient(Fwd forward, Bwd backward, const Shape& shape, double lo, double hi) {
  Tensor x = test::random_tensor(shape, DType::kF64, 100, lo, hi);
  const Tensor wt = test::random_tensor(shape, DType::kF64, 101);
  Tensor y = Tensor::empty(shape, DType::kF64);
  auto loss = [&] {
    forward(x, y);
    return test::weighted_sum(y, wt);
  };
  loss();
  Tensor dx = Tensor::empty(shape, DType::kF64);
  dx.poison();
  backward(x, y, wt, dx);
  EXPECT_LE(test::max_abs_diff(dx, test::numerical_gradient(loss, x)), kGradTol);
}

TEST(Gelu, ForwardMatchesErfAndF32MatchesF64) {
  const Tensor x = test::random_tensor({1000, 33}, DType::kF64, 1, -8.0, 8.0);
  Tensor y = Tensor::empty(x.shape(), DType::kF64);
  y.poison();
  ops::gelu_forward(x, y);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = x.data<double>()[i];
    ASSERT_NEAR(y.data<double>()[i], 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))), kExactTolF64);
  }
  Tensor y32 = Tensor::empty(x.shape(), DType::kF32);
  y32.poison();
  const Tensor x32 = test::to_dtype(x, DType::kF32);
  ops::gelu_forward(x32, y32);
  // Compare with f64 GELU of the rounded f32 inputs.
  Tensor yr = Tensor::empty(x.shape(), DType::kF64);
  ops::gelu_forward(test::to_dtype(x32, DType::kF64), yr);
  EXPECT_LE(test::max_abs_diff(y32, yr), kGeluF32Tol);
  // Gradient in f32 against f64.
  const Tensor dy = test::random_tensor(x.shape(), DType::kF64, 2);
  Tensor dx = Tensor::empty(x.shape(), DType::kF64), dx32 = Tensor::empty(x.shape(), DType::kF32);
  dx32.poison();
  ops::gelu_backward(test::to_dtype(x32, DType::kF64), dy, dx);
  ops::gelu_backward(x32, test::to_dtype(dy, DType::kF32), dx32);
  EXPECT_LE(test::max_abs_diff(dx32, dx), kGeluF32Tol);
  // Known values: gelu(0) = 0, gelu(1) = Phi(1) = 0.8413447460685429.
  Tensor k = Tensor::empty({2}, DType::kF32), ky = Tensor::empty({2}, DType::kF32);
  k.data<float>()[0] = 0.0f;
  k.data<float>()[1] = 1.0f;
  ops::gelu_forward(k, ky);
  EXPECT_EQ(ky.data<float>()[0], 0.0f);
  EXPECT_NEAR(ky.data<float>()[1], 0.8413447460685429, 1e-7);
}

TEST(Gelu, BackwardMatchesFiniteDifferences) {
  check_unary_gradient(
      [](const Tensor& x, Tensor& y) { ops::gelu_forward(x, y); },
      [](const Tensor& x, const Tensor&, const Tensor& dy, Tensor& dx) { ops::gelu_backward(x, dy, dx); }, {3, 17},
      -4.0, 4.0);
}

TEST(Tanh, ForwardAndBackward) {
  const Tensor x = test::random_tensor({5, 9}, DType::kF64, 3, -3.0, 3.0);
  Tensor y = Tensor::empty(x.shape(), DType::kF64);
  y.poison();
  ops::tanh_forward(x, y);
  for (int64_t i = 0; i < x.numel(); ++i)
    EXPECT_NEAR(y.data<double>()[i], std::tanh(x.data<double>()[i]), kExactTolF64);
  check_unary_gradient(
      [](const Tensor& x, Tensor& y) { ops::tanh_forward(x, y); },
      [](const Tensor&, const Tensor& y, const Tensor& dy, Tensor& dx) { ops::tanh_backward(y, dy, dx); }, {4, 6}, -2.0,
      2.0);
  // In place (dx aliases dy), as the attention pool uses it.
  Tensor dy = test::random_tensor(x.shape(), DType::kF64, 4);
  Tensor expect = Tensor::empty(x.shape(), DType::kF64);
  ops::tanh_backward(y, dy, expect);
  ops::tanh_backward(y, dy, dy);
  EXPECT_EQ(test::max_abs_diff(dy, expect), 0.0);
}

TEST(Softmax, ForwardRowsSumToOneAndMatchReference) {
  const int64_t rows = 12, cols = 19;
  const Tensor x = test::random_tensor({3, 4, cols}, DType::kF64, 5, -20.0, 20.0);
  Tensor y = Tensor::empty(x.shape(), DType::kF64);
  y.poison();
  ops::softmax_forward(x, y);
  for (int64_t r = 0; r < rows; ++r) {
    double mx = -INFINITY, s = 0, ys = 0;
    for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, x.data<double>()[r * cols + c]);
    for (int64_t c = 0; c < cols; ++c) s += std::exp(x.data<double>()[r * cols + c] - mx);
    for (int64_t c = 0; c < cols; ++c) {
      EXPECT_NEAR(y.data<double>()[r * cols + c], std::exp(x.data<double>()[r * cols + c] - mx) / s, kExactTolF64);
      ys += y.data<double>()[r * cols + c];
    }
    EXPECT_NEAR(ys, 1.0, kExactTolF64);
  }
  Tensor y32 = Tensor::empty(x.shape(), DType::kF32);
  y32.poison();
  ops::softmax_forward(test::to_dtype(x, DType::kF32), y32);
  EXPECT_LE(test::max_abs_diff(y32, y), kF32Tol);
  // Large inputs do not overflow; a row of -inf gives zeros.
  Tensor big = Tensor::empty({2, 3}, DType::kF32), by = Tensor::empty({2, 3}, DType::kF32);
  for (int i = 0; i < 3; ++i) big.data<float>()[i] = 1000.0f + i;
  for (int i = 3; i < 6; ++i) big.data<float>()[i] = -INFINITY;
  ops::softmax_forward(big, by);
  EXPECT_NEAR(by.data<float>()[2], 1.0 / (1.0 + std::exp(-1.0) + std::exp(-2.0)), kF32Tol);
  EXPECT_EQ(by.data<float>()[4], 0.0f);
}

TEST(Softmax, BackwardMatchesFiniteDifferences) {
  check_unary_gradient(
      [](const Tensor& x, Tensor& y) { ops::softmax_forward(x, y); },
      [](const Tensor&, const Tensor& y, const Tensor& dy, Tensor& dx) { ops::softmax_backward(y, dy, dx); }, {4, 7},
      -3.0, 3.0);
}

TEST(Elementwise, AddScaleValues) {
  for (DType dt : {DType::kF32, DType::kF64}) {
    const Tensor a = test::random_tensor({100, 3}, dt, 6);
    const Tensor b = test::random_tensor({100, 3}, dt, 7);
    Tensor out = Tensor::empty({100, 3}, dt);
    out.poison();
    ops::add(a, b, out);
    Tensor y = a.clone();
    ops::add_(y, b);
    Tensor z = a.clone();
    ops::scale_(z, -2.5);
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double av = dt == DType::kF32 ? a.data<float>()[i] : a.data<double>()[i];
      const double bv = dt == DType::kF32 ? b.data<float>()[i] : b.data<double>()[i];
      const double ov = dt == DType::kF32 ? out.data<float>()[i] : out.data<double>()[i];
      const double yv = dt == DType::kF32 ? y.data<float>()[i] : y.data<double>()[i];
      const double zv = dt == DType::kF32 ? z.data<float>()[i] : z.data<double>()[i];
      // Sums and products of two values round once.
      const double tol = dt == DType::kF32 ? 1e-6 : kExactTolF64;
      EXPECT_NEAR(ov, av + bv, tol);
      EXPECT_EQ(ov, yv);
      EXPECT_NEAR(zv, -2.5 * av, tol);
    }
  }
  // Output aliasing an input.
  Tensor a = test::random_tensor({10}, DType::kF64, 8);
  const Tensor b = test::random_tensor({10}, DType::kF64, 9);
  Tensor expect = Tensor::empty({10}, DType::kF64);
  ops::add(a, b, expect);
  ops::add(a, b, a);
  EXPECT_EQ(test::max_abs_diff(a, expect), 0.0);
}

TEST(BiasAdd, ForwardBackwardAndDeterminism) {
  Tensor y = test::random_tensor({3, 5, 4}, DType::kF64, 10);
  const Tensor y0 = y.clone();
  Tensor b = test::random_tensor({4}, DType::kF64, 11);
  ops::bias_add_forward(y, b);
  for (int64_t i = 0; i < y.numel(); ++i) {
    EXPECT_NEAR(y.data<double>()[i], y0.data<double>()[i] + b.data<double>()[i % 4], kExactTolF64);
  }
  // Gradient: loss = sum((y0 + b) * w).
  const Tensor wt = test::random_tensor(y.shape(), DType::kF64, 12);
  auto loss = [&] {
    Tensor t = y0.clone();
    ops::bias_add_forward(t, b);
    return test::weighted_sum(t, wt);
  };
  const Tensor db0 = test::random_tensor({4}, DType::kF64, 13);
  Tensor db = db0.clone();
  ops::bias_add_backward(wt, db);
  EXPECT_LE(test::max_abs_diff(diff(db, db0), test::numerical_gradient(loss, b)), kGradTol);
  // Column sums do not depend on the thread count.
  const Tensor dy = test::random_tensor({6400, 64}, DType::kF32, 14);
  const int saved = omp_get_max_threads();
  Tensor s1 = Tensor::zeros({64}), s3 = Tensor::zeros({64});
  omp_set_num_threads(1);
  ops::bias_add_backward(dy, s1);
  omp_set_num_threads(3);
  ops::bias_add_backward(dy, s3);
  omp_set_num_threads(saved);
  EXPECT_EQ(test::max_abs_diff(s1, s3), 0.0);
}

TEST(Activations, BadShapesThrow) {
  const Tensor x = Tensor::zeros({4, 8});
  Tensor y_bad = Tensor::zeros({4, 7}), y64 = Tensor::zeros({4, 8}, DType::kF64), y = Tensor::zeros({4, 8});
  EXPECT_THROW(ops::gelu_forward(x, y_bad), Error);
  EXPECT_THROW(ops::gelu_forward(x, y64), Error);
  EXPECT_THROW(ops::gelu_backward(x, y_bad, y), Error);
  EXPECT_THROW(ops::tanh_forward(x, y_bad), Error);
  EXPECT_THROW(ops::tanh_backward(x, x, y_bad), Error);
  EXPECT_THROW(ops::softmax_forward(x, y_bad), Error);
  EXPECT_THROW(ops::softmax_backward(x, y_bad, y), Error);
  EXPECT_THROW(ops::add(x, y_bad, y), Error);
  EXPECT_THROW(ops::add_(y, y_bad), Error);
  Tensor undefined;
  EXPECT_THROW(ops::scale_(undefined, 2.0), Error);
  EXPECT_THROW(ops::bias_add_forward(y, Tensor::zeros({4})), Error);
  Tensor db_bad = Tensor::zeros({7});
  EXPECT_THROW(ops::bias_add_backward(x, db_bad), Error);
  EXPECT_THROW(ops::gelu_forward(Tensor::zeros({4, 8}, DType::kI32), y), Error);
}

}  // namespace
}  // namespace attncamp
