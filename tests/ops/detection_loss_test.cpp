// Tests for the detection losses of ops/detection_loss.h on the CPU: hand values, torchvision's
// losses (smooth L1 through torch.nn.functional, generalized_box_iou_loss, sigmoid_focal_loss) and
// autograd's gradients in f64, including the GIoU loss's ties, every backward against finite
// differences in f64, dloss and grad_scale, saturated logits, and bad arguments.
#include "ops/detection_loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "ops/boxes.h"
#include "tests/ops/box_test_util.h"
#include "tests/ops/torch_reference.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::expect_error;
using test::random_boxes;

constexpr double kTorchTol = 1e-12;  // f64 against torch in f64, relative to 1 + max|value|
constexpr double kGradTol = 1e-7;    // central differences (step 1e-6) of smooth f64 losses
constexpr double kBeta = 1.0 / 9;    // torchvision's detection heads
const Tensor kNone;

double rel_diff(const Tensor& a, const Tensor& b) { return test::max_abs_diff(a, b) / (1 + test::max_abs(b)); }

// The three losses behind one signature, so the generic checks below run each of them.
enum class Loss { kSmoothL1, kGiou, kFocal };
struct LossCase {
  Loss loss;
  double a, b;  // beta; eps; alpha, gamma
};

Tensor forward(const LossCase& c, const Tensor& x, const Tensor& t) {
  Tensor out = Tensor::empty(c.loss == Loss::kGiou ? Shape{x.size(0)} : x.shape(), x.dtype());
  out.poison();
  switch (c.loss) {
    case Loss::kSmoothL1: ops::smooth_l1_loss_forward(x, t, c.a, out); break;
    case Loss::kGiou: ops::giou_loss_forward(x, t, c.a, out); break;
    case Loss::kFocal: ops::sigmoid_focal_loss_forward(x, t, c.a, c.b, out); break;
  }
  return out;
}

Tensor backward(const LossCase& c, const Tensor& dloss, const Tensor& x, const Tensor& t, double scale) {
  Tensor dx = Tensor::empty(x.shape(), x.dtype());
  dx.poison();
  switch (c.loss) {
    case Loss::kSmoothL1: ops::smooth_l1_loss_backward(dloss, x, t, c.a, scale, dx); break;
    case Loss::kGiou: ops::giou_loss_backward(dloss, x, t, c.a, scale, dx); break;
    case Loss::kFocal: ops::sigmoid_focal_loss_backward(dloss, x, t, c.a, c.b, scale, dx); break;
  }
  return dx;
}

// Inputs x and targets t of a loss: smooth L1 differences away from 0 and +-beta; boxes in pairs
// that overlap or not, with no coordinate tied; logits in [-4, 4) with 0/1 and soft targets.
void inputs(Loss loss, uint64_t seed, Tensor* x, Tensor* t) {
  const int64_t n = 40;
  if (loss == Loss::kGiou) {
    *x = random_boxes(n, seed, DType::kF64, 40, 2, 30);
    *t = random_boxes(n, seed + 1, DType::kF64, 40, 2, 30);
    return;
  }
  *x = test::random_tensor({n / 4, 4}, DType::kF64, seed, -4.0, 4.0);
  *t = test::random_tensor({n / 4, 4}, DType::kF64, seed + 1, loss == Loss::kFocal ? 0.0 : -4.0,
                           loss == Loss::kFocal ? 1.0 : 4.0);
  for (int64_t i = 0; i < n; ++i) {
    double& xi = x->data<double>()[i];
    double& ti = t->data<double>()[i];
    if (loss == Loss::kFocal && i % 3 != 2) ti = i % 3;  // hard 0/1 targets, every third soft
    if (loss == Loss::kSmoothL1) {
      const double d = std::fabs(xi - ti);
      if (d < 0.01 || std::fabs(d - kBeta) < 0.01) xi += 0.05;
    }
  }
}

const LossCase kCases[] = {{Loss::kSmoothL1, kBeta, 0}, {Loss::kSmoothL1, 0.0, 0}, {Loss::kGiou, ops::kGiouLossEps, 0},
                           {Loss::kFocal, 0.25, 2.0},   {Loss::kFocal, -1.0, 0.0}, {Loss::kFocal, 0.6, 1.5}};

TEST(DetectionLoss, BackwardsMatchFiniteDifferences) {
  for (const LossCase& c : kCases) {
    Tensor x, t;
    inputs(c.loss, 10 + static_cast<uint64_t>(c.loss), &x, &t);
    const Tensor loss0 = forward(c, x, t);
    const Tensor wt = test::random_tensor(loss0.shape(), DType::kF64, 20);
    const auto total = [&] { return test::weighted_sum(forward(c, x, t), wt); };
    const double scale = 0.75;
    Tensor numeric = test::numerical_gradient(total, x);
    for (int64_t i = 0; i < numeric.numel(); ++i) numeric.data<double>()[i] *= scale;
    EXPECT_LE(test::max_abs_diff(backward(c, wt, x, t, scale), numeric), kGradTol)
        << static_cast<int>(c.loss) << " a=" << c.a << " b=" << c.b;
  }
}

TEST(DetectionLoss, UndefinedDlossMeansOnesAndDinputMayAliasIt) {
  for (const LossCase& c : kCases) {
    Tensor x, t;
    inputs(c.loss, 30, &x, &t);
    const Tensor ones_grad = backward(c, kNone, x, t, 2.0);
    Tensor ones = Tensor::empty(c.loss == Loss::kGiou ? Shape{x.size(0)} : x.shape(), DType::kF64);
    ones.fill(1.0);
    EXPECT_EQ(test::max_abs_diff(backward(c, ones, x, t, 2.0), ones_grad), 0.0);
    if (c.loss == Loss::kGiou) continue;  // dloss [N] and dboxes [N,4] cannot alias
    Tensor shared = ones.clone();
    if (c.loss == Loss::kSmoothL1) {
      ops::smooth_l1_loss_backward(shared, x, t, c.a, 2.0, shared);
    } else {
      ops::sigmoid_focal_loss_backward(shared, x, t, c.a, c.b, 2.0, shared);
    }
    EXPECT_EQ(test::max_abs_diff(shared, ones_grad), 0.0);
  }
}

TEST(SmoothL1Loss, HandValuesAndTheL1Rule) {
  const Tensor x = test::box_tensor({{0.5, 3, -1, 0}}), t = test::box_tensor({{0, 1, 1, 0}});
  const Tensor smooth = forward({Loss::kSmoothL1, 1.0, 0}, x, t);
  const double want[4] = {0.125, 1.5, 1.5, 0};
  for (int k = 0; k < 4; ++k) EXPECT_DOUBLE_EQ(smooth.data<double>()[k], want[k]);
  const Tensor l1 = forward({Loss::kSmoothL1, 0.5 * ops::kSmoothL1MinBeta, 0}, x, t);  // below: L1
  const double want_l1[4] = {0.5, 2, 2, 0};
  for (int k = 0; k < 4; ++k) EXPECT_DOUBLE_EQ(l1.data<double>()[k], want_l1[k]);
  const Tensor g = backward({Loss::kSmoothL1, 1.0, 0}, kNone, x, t, 1.0);
  const double want_g[4] = {0.5, 1, -1, 0};
  for (int k = 0; k < 4; ++k) EXPECT_DOUBLE_EQ(g.data<double>()[k], want_g[k]);
}

TEST(GiouLoss, HandValuesDegenerateBoxesAndAgreementWithGeneralizedBoxIou) {
  const Tensor b = test::box_tensor({{0, 0, 10, 10}, {3, 3, 3, 3}, {0, 0, 1, 1}});
  const Tensor t = test::box_tensor({{5, 5, 15, 15}, {3, 3, 3, 3}, {2, 0, 3, 1}});
  const Tensor loss = forward({Loss::kGiou, 0.0, 0}, b, t);
  EXPECT_NEAR(loss.data<double>()[0], 1 - (25.0 / 175 - 50.0 / 225), 1e-15);
  EXPECT_NEAR(loss.data<double>()[2], 1 - (0 - (3.0 - 2) / 3), 1e-15);  // apart: enclosing 3, union 2
  const Tensor with_eps = forward({Loss::kGiou, ops::kGiouLossEps, 0}, b, t);
  EXPECT_EQ(with_eps.data<double>()[1], 1.0);       // two equal empty boxes: 0 / eps terms, loss 1
  EXPECT_TRUE(std::isnan(loss.data<double>()[1]));  // without eps: 0 / 0
  Tensor x, y;
  inputs(Loss::kGiou, 40, &x, &y);
  Tensor giou = Tensor::empty({x.size(0), y.size(0)}, DType::kF64);
  ops::generalized_box_iou(x, y, giou);
  const Tensor l = forward({Loss::kGiou, ops::kGiouLossEps, 0}, x, y);
  for (int64_t i = 0; i < x.size(0); ++i) {
    EXPECT_NEAR(l.data<double>()[i], 1 - giou.data<double>()[i * y.size(0) + i], 1e-7) << i;
  }
}

TEST(SigmoidFocalLoss, SaturatedLogitsStayFinite) {
  Tensor x = test::box_tensor({{-60, -60, 60, 60}, {30, -30, 0, 0}});
  Tensor t = test::box_tensor({{0, 1, 1, 0}, {1, 0, 1, 0}});
  for (const LossCase& c : {LossCase{Loss::kFocal, 0.25, 2.0}, LossCase{Loss::kFocal, 0.25, 0.5}}) {
    const Tensor loss = forward(c, x, t), g = backward(c, kNone, x, t, 1.0);
    for (int64_t i = 0; i < 8; ++i) {
      EXPECT_TRUE(std::isfinite(loss.data<double>()[i])) << i;
      EXPECT_TRUE(std::isfinite(g.data<double>()[i])) << i;
    }
    // The right class at logit 60: ce = log1p(e^-60) ~ e^-60, m = sigmoid(-60) ~ e^-60.
    EXPECT_NEAR(loss.data<double>()[2] / std::exp(-60.0 * (1 + c.b)), 0.25, 1e-10);
    // The wrong class at logit 60: ce ~ 60, m ~ 1.
    EXPECT_NEAR(loss.data<double>()[3], 0.75 * 60, 1e-10);
  }
}

// Forward values and autograd's gradients (upstream dloss) of torch's losses on the same inputs,
// plus GIoU pairs with tied coordinates (an exact match, shared edges) where PyTorch's max/min split
// the gradient in half.
TEST(DetectionLoss, MatchesTorchAndItsAutogradGradients) {
  ATTNCAMP_REQUIRE_TORCH();
  Tensor sx, st, bx, bt, fx, ft;
  inputs(Loss::kSmoothL1, 50, &sx, &st);
  inputs(Loss::kGiou, 52, &bx, &bt);
  inputs(Loss::kFocal, 54, &fx, &ft);
  // Ties: box 0 equals its target; box 1 shares x1 and y2; box 2 shares x2 and does not overlap.
  const double tied[3][2][4] = {
      {{1, 2, 9, 7}, {1, 2, 9, 7}}, {{4, 4, 20, 12}, {4, 0, 10, 12}}, {{0, 0, 5, 5}, {2, 10, 5, 14}}};
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 4; ++k) {
      bx.data<double>()[i * 4 + k] = tied[i][0][k];
      bt.data<double>()[i * 4 + k] = tied[i][1][k];
    }
  }
  const Tensor sd = test::random_tensor(sx.shape(), DType::kF64, 60),
               bd = test::random_tensor({bx.size(0)}, DType::kF64, 61),
               fd = test::random_tensor(fx.shape(), DType::kF64, 62);
  const auto ref = test::run_torch(R"PY(
import torch.nn.functional as F
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss
def run(name, f, x, *args):
    x = load(x).requires_grad_()
    loss = f(x, *args)
    save(name, loss)
    loss.backward(load(name + "_up"))
    save(name + "_grad", x.grad)
run("smooth", lambda x, t: F.smooth_l1_loss(x, t, reduction="none", beta=1.0 / 9), "sx", load("st"))
run("l1", lambda x, t: F.l1_loss(x, t, reduction="none"), "sx", load("st"))
run("giou", lambda x, t: generalized_box_iou_loss(x, t, eps=1e-7), "bx", load("bt"))
run("focal", lambda x, t: sigmoid_focal_loss(x, t, 0.25, 2), "fx", load("ft"))
run("focal_plain", lambda x, t: sigmoid_focal_loss(x, t, -1, 0), "fx", load("ft"))
run("focal_odd", lambda x, t: sigmoid_focal_loss(x, t, 0.6, 1.5), "fx", load("ft"))
)PY",
                                   {{"sx", sx},
                                    {"st", st},
                                    {"bx", bx},
                                    {"bt", bt},
                                    {"fx", fx},
                                    {"ft", ft},
                                    {"smooth_up", sd},
                                    {"l1_up", sd},
                                    {"giou_up", bd},
                                    {"focal_up", fd},
                                    {"focal_plain_up", fd},
                                    {"focal_odd_up", fd}},
                                   {"smooth", "smooth_grad", "l1", "l1_grad", "giou", "giou_grad", "focal",
                                    "focal_grad", "focal_plain", "focal_plain_grad", "focal_odd", "focal_odd_grad"});
  ASSERT_EQ(ref.size(), 12u);
  struct Check {
    const char* name;
    LossCase c;
    const Tensor &x, &t, &up;
  };
  const Check checks[] = {
      {"smooth", {Loss::kSmoothL1, kBeta, 0}, sx, st, sd},       {"l1", {Loss::kSmoothL1, 0.0, 0}, sx, st, sd},
      {"giou", {Loss::kGiou, ops::kGiouLossEps, 0}, bx, bt, bd}, {"focal", {Loss::kFocal, 0.25, 2.0}, fx, ft, fd},
      {"focal_plain", {Loss::kFocal, -1.0, 0.0}, fx, ft, fd},    {"focal_odd", {Loss::kFocal, 0.6, 1.5}, fx, ft, fd}};
  for (const Check& k : checks) {
    EXPECT_LE(rel_diff(forward(k.c, k.x, k.t), ref.at(k.name)), kTorchTol) << k.name;
    EXPECT_LE(rel_diff(backward(k.c, k.up, k.x, k.t, 1.0), ref.at(std::string(k.name) + "_grad")), kTorchTol) << k.name;
  }
}

TEST(DetectionLoss, BadArgumentsNameTheOpAndTheArgument) {
  const Tensor x = Tensor::zeros({5, 4}), t = Tensor::zeros({5, 4});
  Tensor out = Tensor::empty({5, 4}), loss_n = Tensor::empty({5});
  expect_error(
      [&] {
        ops::smooth_l1_loss_forward(x, Tensor::zeros({4, 5}), kBeta, out);
      },
      {"smooth_l1_loss_forward", "target", "[5,4]"});
  expect_error([&] { ops::smooth_l1_loss_forward(x, t, -1.0, out); }, {"smooth_l1_loss_forward", "beta", "-1"});
  expect_error([&] { ops::smooth_l1_loss_backward(Tensor::zeros({5}), x, t, kBeta, 1.0, out); },
               {"smooth_l1_loss_backward", "dloss", "[5,4]"});
  expect_error([&] { ops::smooth_l1_loss_backward(kNone, x, t, kBeta, INFINITY, out); },
               {"smooth_l1_loss_backward", "grad_scale", "inf"});
  expect_error(
      [&] {
        ops::giou_loss_forward(Tensor::zeros({5, 3}), Tensor::zeros({5, 3}), 1e-7, loss_n);
      },
      {"giou_loss_forward", "boxes must be [N,4]"});
  expect_error([&] { ops::giou_loss_forward(x, t, 1e-7, out); }, {"giou_loss_forward", "loss", "[5]"});
  expect_error([&] { ops::giou_loss_forward(x, t, std::nan(""), loss_n); }, {"giou_loss_forward", "eps"});
  expect_error(
      [&] {
        ops::giou_loss_backward(Tensor::zeros({5, 4}), x, t, 1e-7, 1.0, out);
      },
      {"giou_loss_backward", "dloss", "[5]"});
  expect_error([&] { ops::sigmoid_focal_loss_forward(x, t, 1.5, 2.0, out); }, {"sigmoid_focal_loss_forward", "alpha"});
  expect_error([&] { ops::sigmoid_focal_loss_forward(x, t, 0.25, -1.0, out); },
               {"sigmoid_focal_loss_forward", "gamma"});
  expect_error(
      [&] {
        ops::sigmoid_focal_loss_forward(x, Tensor::zeros({5, 4}, DType::kF64), 0.25, 2.0, out);
      },
      {"sigmoid_focal_loss_forward", "targets", "f32"});
  expect_error([&] { ops::sigmoid_focal_loss_backward(kNone, x, t, 0.25, 2.0, 1.0, loss_n); },
               {"sigmoid_focal_loss_backward", "dlogits", "[5,4]"});
}

}  // namespace
}  // namespace attncamp
