// Tests for ops::linear_forward/backward: forward against plain loops (with and without bias,
// with leading dims), finite-difference gradients in f64, accumulate/overwrite conventions,
// f32 against f64, and shape checks.
#include "ops/linear.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace attncamp {
namespace {

constexpr double kForwardTolF64 = 1e-12;
constexpr double kForwardTolF32 = 2e-5;
// Central differences (eps 1e-6) of a loss that is linear in each argument: error ~1e-9.
constexpr double kGradTol = 1e-7;

Tensor reference_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t in = w.size(1), out = w.size(0), rows = x.numel() / in;
  Shape ys = x.shape();
  ys.back() = out;
  Tensor y = Tensor::empty(ys, DType::kF64);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double s = b.defined() ? b.data<double>()[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) s += x.data<double>()[r * in + i] * w.data<double>()[o * in + i];
      y.data<double>()[r * out + o] = s;
    }
  }
  return y;
}

// a - b as a new f64 tensor.
Tensor diff(const Tensor& a, const Tensor& b) {
  Tensor d = a.clone();
  for (int64_t i = 0; i < d.numel(); ++i) d.data<double>()[i] -= b.data<double>()[i];
  return d;
}

TEST(Linear, ForwardMatchesReference) {
  const Tensor x = test::random_tensor({2, 3, 6}, DType::kF64, 1);
  const Tensor w = test::random_tensor({4, 6}, DType::kF64, 2);
  const Tensor b = test::random_tensor({4}, DType::kF64, 3);
  for (bool with_bias : {true, false}) {
    const Tensor bias = with_bias ? b : Tensor();
    Tensor y = Tensor::empty({2, 3, 4}, DType::kF64);
    y.poison();
    ops::linear_forward(x, w, bias, y);
    EXPECT_LE(test::max_abs_diff(y, reference_forward(x, w, bias)), kForwardTolF64);
    Tensor y32 = Tensor::empty({2, 3, 4}, DType::kF32);
    y32.poison();
    ops::linear_forward(test::to_dtype(x, DType::kF32), test::to_dtype(w, DType::kF32),
                        with_bias ? test::to_dtype(b, DType::kF32) : Tensor(), y32);
    EXPECT_LE(test::max_abs_diff(y32, y), kForwardTolF32);
  }
}

TEST(Linear, BackwardMatchesFiniteDifferences) {
  Tensor x = test::random_tensor({2, 3, 5}, DType::kF64, 10);
  Tensor w = test::random_tensor({4, 5}, DType::kF64, 11);
  Tensor b = test::random_tensor({4}, DType::kF64, 12);
  const Tensor wt = test::random_tensor({2, 3, 4}, DType::kF64, 13);  // upstream gradient
  Tensor y = Tensor::empty({2, 3, 4}, DType::kF64);
  auto loss = [&] {
    ops::linear_forward(x, w, b, y);
    return test::weighted_sum(y, wt);
  };
  // dw, db accumulate onto random initial values; dx is overwritten (poisoned first).
  Tensor dx = Tensor::empty(x.shape(), DType::kF64);
  dx.poison();
  const Tensor dw0 = test::random_tensor(w.shape(), DType::kF64, 14);
  const Tensor db0 = test::random_tensor(b.shape(), DType::kF64, 15);
  Tensor dw = dw0.clone(), db = db0.clone();
  ops::linear_backward(wt, x, w, dx, dw, db);
  EXPECT_LE(test::max_abs_diff(dx, test::numerical_gradient(loss, x)), kGradTol);
  EXPECT_LE(test::max_abs_diff(diff(dw, dw0), test::numerical_gradient(loss, w)), kGradTol);
  EXPECT_LE(test::max_abs_diff(diff(db, db0), test::numerical_gradient(loss, b)), kGradTol);
}

TEST(Linear, BackwardSkipsUndefinedOutputs) {
  const Tensor x = test::random_tensor({7, 3}, DType::kF64, 20);
  const Tensor w = test::random_tensor({2, 3}, DType::kF64, 21);
  const Tensor dy = test::random_tensor({7, 2}, DType::kF64, 22);
  Tensor dx, db;
  Tensor dw = Tensor::zeros({2, 3}, DType::kF64);
  ops::linear_backward(dy, x, w, dx, dw, db);
  // dw = dy^T x
  double expect = 0;
  for (int64_t r = 0; r < 7; ++r) expect += dy.data<double>()[r * 2 + 1] * x.data<double>()[r * 3 + 2];
  EXPECT_NEAR(dw.data<double>()[1 * 3 + 2], expect, kForwardTolF64);
  EXPECT_FALSE(dx.defined());
}

TEST(Linear, F32BackwardMatchesF64) {
  const Tensor x = test::random_tensor({64, 32}, DType::kF64, 30);
  const Tensor w = test::random_tensor({16, 32}, DType::kF64, 31);
  const Tensor dy = test::random_tensor({64, 16}, DType::kF64, 32);
  Tensor dx = Tensor::empty({64, 32}, DType::kF64), dw = Tensor::zeros({16, 32}, DType::kF64),
         db = Tensor::zeros({16}, DType::kF64);
  ops::linear_backward(dy, x, w, dx, dw, db);
  Tensor dx32 = Tensor::empty({64, 32}), dw32 = Tensor::zeros({16, 32}), db32 = Tensor::zeros({16});
  dx32.poison();
  ops::linear_backward(test::to_dtype(dy, DType::kF32), test::to_dtype(x, DType::kF32), test::to_dtype(w, DType::kF32),
                       dx32, dw32, db32);
  EXPECT_LE(test::max_abs_diff(dx32, dx), kForwardTolF32);
  EXPECT_LE(test::max_abs_diff(dw32, dw), 4 * kForwardTolF32);  // sums of 64 terms
  EXPECT_LE(test::max_abs_diff(db32, db), 4 * kForwardTolF32);
}

TEST(Linear, BadShapesThrow) {
  const Tensor x = Tensor::zeros({5, 3});
  const Tensor w = Tensor::zeros({4, 3});
  const Tensor b = Tensor::zeros({4});
  Tensor y = Tensor::zeros({5, 4});
  Tensor y_bad = Tensor::zeros({5, 3});
  EXPECT_NO_THROW(ops::linear_forward(x, w, b, y));
  EXPECT_THROW(ops::linear_forward(x, w, b, y_bad), Error);
  EXPECT_THROW(ops::linear_forward(x, Tensor::zeros({4, 2}), b, y), Error);
  EXPECT_THROW(ops::linear_forward(x, w, Tensor::zeros({3}), y), Error);
  EXPECT_THROW(ops::linear_forward(x, w, Tensor::zeros({4}, DType::kF64), y), Error);
  Tensor dx = Tensor::zeros({5, 3}), dw = Tensor::zeros({4, 3}), db = Tensor::zeros({4});
  Tensor dw_bad = Tensor::zeros({3, 4}), dx_bad = Tensor::zeros({5, 4});
  EXPECT_NO_THROW(ops::linear_backward(y, x, w, dx, dw, db));
  EXPECT_THROW(ops::linear_backward(y, x, w, dx, dw_bad, db), Error);
  EXPECT_THROW(ops::linear_backward(y, x, w, dx_bad, dw, db), Error);
  EXPECT_THROW(ops::linear_backward(x, x, w, dx, dw, db), Error);
}

}  // namespace
}  // namespace attncamp
