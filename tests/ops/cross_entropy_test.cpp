// Tests for fused softmax cross-entropy: losses against the direct formula, gradients against
// finite differences (f64), label smoothing, ignored rows, f32 against f64 and label errors.
#include "ops/cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace attncamp {
namespace {

constexpr double kTolF64 = 1e-12;
constexpr double kTolGrad = 1e-8;

Tensor make_labels(const std::vector<int32_t>& v) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, DType::kI32);
  for (size_t i = 0; i < v.size(); ++i) t.data<int32_t>()[i] = v[i];
  return t;
}

// -sum_c q_c log softmax(x)_c written out directly.
double direct_loss(const double* x, int64_t classes, int32_t label, double eps) {
  double z = 0;
  for (int64_t c = 0; c < classes; ++c) z += std::exp(x[c]);
  double loss = 0;
  for (int64_t c = 0; c < classes; ++c) {
    const double q = (c == label ? 1 - eps : 0) + eps / static_cast<double>(classes);
    loss -= q * std::log(std::exp(x[c]) / z);
  }
  return loss;
}

TEST(CrossEntropy, LossesMatchDirectFormula) {
  const int64_t n = 6, classes = 7;
  Tensor logits = test::random_tensor({n, classes}, DType::kF64, 1, -3, 3);
  Tensor labels = make_labels({0, 6, 3, -1, 2, 5});
  for (double eps : {0.0, 0.1, 1.0}) {
    Tensor losses = Tensor::empty({n}, DType::kF64), dlogits = Tensor::empty({n, classes}, DType::kF64);
    losses.poison();
    dlogits.poison();
    ops::cross_entropy_forward_backward(logits, labels, eps, 1.0, losses, dlogits);
    for (int64_t i = 0; i < n; ++i) {
      const int32_t label = labels.data<int32_t>()[i];
      const double want = label < 0 ? 0.0 : direct_loss(logits.data<double>() + i * classes, classes, label, eps);
      EXPECT_NEAR(losses.data<double>()[i], want, kTolF64) << "row " << i << " eps " << eps;
    }
    // Each non-ignored gradient row sums to 0 (softmax and q both sum to 1).
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t c = 0; c < classes; ++c) s += dlogits.data<double>()[i * classes + c];
      EXPECT_NEAR(s, 0.0, kTolF64);
    }
  }
}

TEST(CrossEntropy, GradientMatchesFiniteDifferences) {
  const int64_t n = 5, classes = 9;
  const double scale = 0.37;
  Tensor logits = test::random_tensor({n, classes}, DType::kF64, 2, -2, 2);
  Tensor labels = make_labels({4, -1, 0, 8, 1});
  Tensor losses = Tensor::empty({n}, DType::kF64), none;
  auto loss = [&] {
    ops::cross_entropy_forward_backward(logits, labels, 0.1, 1.0, losses, none);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += losses.data<double>()[i];
    return scale * s;
  };
  Tensor num = test::numerical_gradient(loss, logits);
  Tensor dlogits = Tensor::empty({n, classes}, DType::kF64);
  dlogits.poison();
  ops::cross_entropy_forward_backward(logits, labels, 0.1, scale, losses, dlogits);
  EXPECT_LE(test::max_abs_diff(dlogits, num), kTolGrad);
  for (int64_t c = 0; c < classes; ++c) EXPECT_EQ(dlogits.data<double>()[classes + c], 0.0);  // ignored row 1
}

TEST(CrossEntropy, SmoothedKnownValues) {
  // Equal logits: softmax is uniform, so the loss is log C whatever the target.
  Tensor logits = Tensor::zeros({2, 4}, DType::kF64);
  Tensor labels = make_labels({1, 3});
  Tensor losses = Tensor::empty({2}, DType::kF64), dlogits = Tensor::empty({2, 4}, DType::kF64);
  ops::cross_entropy_forward_backward(logits, labels, 0.2, 2.0, losses, dlogits);
  EXPECT_NEAR(losses.data<double>()[0], std::log(4.0), kTolF64);
  // dlogits = 2 * (0.25 - q), q = 0.8 + 0.05 at the label and 0.05 elsewhere.
  EXPECT_NEAR(dlogits.data<double>()[1], 2 * (0.25 - 0.85), kTolF64);
  EXPECT_NEAR(dlogits.data<double>()[0], 2 * (0.25 - 0.05), kTolF64);
}

TEST(CrossEntropy, F32MatchesF64) {
  const int64_t n = 64, classes = 100;
  Tensor l32 = test::random_tensor({n, classes}, DType::kF32, 3, -8, 8);
  Tensor l64 = test::to_dtype(l32, DType::kF64);
  std::vector<int32_t> lab(n);
  for (int64_t i = 0; i < n; ++i) lab[i] = static_cast<int32_t>((i * 37) % classes);
  Tensor labels = make_labels(lab);
  Tensor a = Tensor::empty({n}), ga = Tensor::empty({n, classes});
  Tensor b = Tensor::empty({n}, DType::kF64), gb = Tensor::empty({n, classes}, DType::kF64);
  ops::cross_entropy_forward_backward(l32, labels, 0.1, 1.0, a, ga);
  ops::cross_entropy_forward_backward(l64, labels, 0.1, 1.0, b, gb);
  // Accumulation is in double, so only the final rounding to f32 differs.
  EXPECT_LE(test::max_abs_diff(a, b), 20 * std::numeric_limits<float>::epsilon());
  EXPECT_LE(test::max_abs_diff(ga, gb), std::numeric_limits<float>::epsilon());
}

TEST(CrossEntropy, LargeLogitsAreStable) {
  Tensor logits = Tensor::empty({1, 3}, DType::kF32);
  logits.data<float>()[0] = 1000.0f;
  logits.data<float>()[1] = 0.0f;
  logits.data<float>()[2] = -1000.0f;
  Tensor labels = make_labels({1});
  Tensor losses = Tensor::empty({1}), dlogits = Tensor::empty({1, 3});
  ops::cross_entropy_forward_backward(logits, labels, 0.0, 1.0, losses, dlogits);
  EXPECT_FLOAT_EQ(losses.data<float>()[0], 1000.0f);
  EXPECT_FLOAT_EQ(dlogits.data<float>()[0], 1.0f);
  EXPECT_FLOAT_EQ(dlogits.data<float>()[1], -1.0f);
}

TEST(CrossEntropy, BadLabelsAndShapesThrow) {
  Tensor logits = test::random_tensor({8, 10}, DType::kF32, 4);
  Tensor losses = Tensor::empty({8}), dlogits = Tensor::empty({8, 10});
  Tensor labels = make_labels({0, 1, 2, 3, 4, 12, 6, 7});
  try {
    ops::cross_entropy_forward_backward(logits, labels, 0.0, 1.0, losses, dlogits);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("label 12 at index 5 is outside [0, 10)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      ops::cross_entropy_forward_backward(logits, make_labels({0, 1, 2, 3, 4, -2, 6, 7}), 0.0, 1.0, losses, dlogits),
      Error);
  Tensor ok = make_labels({0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_NO_THROW(ops::cross_entropy_forward_backward(logits, ok, 0.0, 1.0, losses, dlogits));
  Tensor short_losses = Tensor::empty({7});
  EXPECT_THROW(ops::cross_entropy_forward_backward(logits, ok, 0.0, 1.0, short_losses, dlogits), Error);
  Tensor f64_grad = Tensor::empty({8, 10}, DType::kF64);
  EXPECT_THROW(ops::cross_entropy_forward_backward(logits, ok, 0.0, 1.0, losses, f64_grad), Error);
  EXPECT_THROW(ops::cross_entropy_forward_backward(logits.view({80}), ok, 0.0, 1.0, losses, dlogits), Error);
  EXPECT_THROW(ops::cross_entropy_forward_backward(logits, Tensor::zeros({8}), 0.0, 1.0, losses, dlogits), Error);
  EXPECT_THROW(ops::cross_entropy_forward_backward(logits, ok, 1.5, 1.0, losses, dlogits), Error);
}

}  // namespace
}  // namespace attncamp
