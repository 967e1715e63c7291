// Parity tests of the CUDA detection losses (ops/detection_loss.h) against their CPU references
// through the parity harness (tests/ops/parity.h), f32 only: every loss forward and backward, with
// and without an upstream dloss, in place where the header allows it, from one element to 100003,
// with poisoned outputs (the emulator test wraps the grid-stride loops). Without a GPU the tests
// skip.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ops/detection_loss.h"
#include "tests/cuda_test_util.h"
#include "tests/ops/box_test_util.h"
#include "tests/ops/parity.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::in;
using test::inout;
using test::out;
using test::ParityRun;
using test::Tol;
using test::Tolerance;

const std::vector<DType> kF32 = {DType::kF32};
// f32 kernels a few operations (exp, log1p, pow, divisions) deep against the CPU's double rounded
// to f32, relative to the largest value.
const Tolerance kLossTol{Tol{1e-6, 1e-5}, Tol{}};
constexpr double kScale = 0.5;
const int64_t kSizes[] = {1, 1000, 100003};

// Logits in [-6, 6) and targets in [0, 1), every other target 0 or 1.
void focal_inputs(int64_t n, uint64_t seed, Tensor* x, Tensor* t) {
  *x = test::random_tensor({n}, DType::kF64, seed, -6.0, 6.0);
  *t = test::random_tensor({n}, DType::kF64, seed + 1, 0.0, 1.0);
  for (int64_t i = 0; i < n; i += 2) t->data<double>()[i] = static_cast<double>(i % 4 == 0);
}

std::string sized(const std::string& what, int64_t n) { return what + " " + std::to_string(n); }

TEST(SmoothL1LossParity, ForwardAndBackward) {
  ATTNCAMP_REQUIRE_GPU();
  for (int64_t n : kSizes) {
    const Tensor x = test::random_tensor({n}, DType::kF64, 1, -2.0, 2.0), t = test::random_tensor({n}, DType::kF64, 2);
    for (double beta : {1.0 / 9, 0.0}) {
      const std::string name = sized("smooth_l1_loss beta " + std::to_string(beta), n);
      test::check_parity(
          {name + " forward",
           kF32,
           kLossTol,
           {in("input", x), in("target", t), out("loss", {n})},
           [beta](std::vector<Tensor>& v, const ParityRun&) { ops::smooth_l1_loss_forward(v[0], v[1], beta, v[2]); }});
      test::check_parity({name + " backward, dloss in place",
                          kF32,
                          kLossTol,
                          {inout("dloss", test::random_tensor({n}, DType::kF64, 3)), in("input", x), in("target", t)},
                          [beta](std::vector<Tensor>& v, const ParityRun&) {
                            ops::smooth_l1_loss_backward(v[0], v[1], v[2], beta, kScale, v[0]);
                          }});
    }
  }
}

TEST(SigmoidFocalLossParity, ForwardAndBackward) {
  ATTNCAMP_REQUIRE_GPU();
  const double settings[][2] = {{0.25, 2.0}, {-1.0, 0.0}, {0.5, 1.5}};
  for (int64_t n : kSizes) {
    Tensor x, t;
    focal_inputs(n, 10, &x, &t);
    for (const auto& s : settings) {
      const double alpha = s[0], gamma = s[1];
      const std::string name = sized("sigmoid_focal_loss " + std::to_string(alpha) + " " + std::to_string(gamma), n);
      test::check_parity({name + " forward",
                          kF32,
                          kLossTol,
                          {in("logits", x), in("targets", t), out("loss", {n})},
                          [alpha, gamma](std::vector<Tensor>& v, const ParityRun&) {
                            ops::sigmoid_focal_loss_forward(v[0], v[1], alpha, gamma, v[2]);
                          }});
      test::check_parity({name + " backward",
                          kF32,
                          kLossTol,
                          {in("dloss", test::random_tensor({n}, DType::kF64, 12)), in("logits", x), in("targets", t),
                           out("dlogits", {n})},
                          [alpha, gamma](std::vector<Tensor>& v, const ParityRun&) {
                            ops::sigmoid_focal_loss_backward(v[0], v[1], v[2], alpha, gamma, kScale, v[3]);
                          }});
      test::check_parity({name + " backward, no dloss",
                          kF32,
                          kLossTol,
                          {in("logits", x), in("targets", t), out("dlogits", {n})},
                          [alpha, gamma](std::vector<Tensor>& v, const ParityRun&) {
                            ops::sigmoid_focal_loss_backward(Tensor(), v[0], v[1], alpha, gamma, kScale, v[2]);
                          }});
    }
  }
}

TEST(GiouLossParity, ForwardAndBackward) {
  ATTNCAMP_REQUIRE_GPU();
  for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{100003}}) {
    const Tensor b = test::random_boxes(n, 20, DType::kF64, 60, 0, 40, 17);
    const Tensor g = test::random_boxes(n, 21, DType::kF64, 60, 0, 40, 23);
    const std::string name = sized("giou_loss", n);
    test::check_parity({name + " forward",
                        kF32,
                        kLossTol,
                        {in("boxes", b), in("target", g), out("loss", {n})},
                        [](std::vector<Tensor>& v, const ParityRun&) {
                          ops::giou_loss_forward(v[0], v[1], ops::kGiouLossEps, v[2]);
                        }});
    for (bool with_dloss : {false, true}) {
      test::check_parity({name + (with_dloss ? " backward" : " backward, no dloss"),
                          kF32,
                          kLossTol,
                          {in("dloss", test::random_tensor({n}, DType::kF64, 22)), in("boxes", b), in("target", g),
                           out("dboxes", {n, 4})},
                          [with_dloss](std::vector<Tensor>& v, const ParityRun&) {
                            ops::giou_loss_backward(with_dloss ? v[0] : Tensor(), v[1], v[2], ops::kGiouLossEps, kScale,
                                                    v[3]);
                          }});
    }
  }
}

}  // namespace
}  // namespace attncamp
