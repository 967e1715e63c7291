// CPU emulation of the CUDA kernels of the detection losses (ops/cuda/detection_loss.cuh): g++
// compiles the real kernel header against tests/emu, and every loss and direction runs as the
// launcher queues it, with and without an upstream dloss, in place where the header allows it, and
// with a grid small enough that the grid-stride loop wraps. Results are compared with the CPU
// reference within f32 tolerances; the GPU parity test is tests/ops/cuda_detection_loss_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "cuda_emu.h"  // before the kernel headers: the CUDA built-ins they use under g++
#include "ops/cuda/detection_loss.cuh"
#include "ops/detection_loss.h"
#include "tests/ops/box_test_util.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

namespace kl = ops::cuda::detection_loss;
using ops::cuda::DetectionLoss;

// f32 kernel against the CPU's double rounded to f32, relative to 1 + max|reference|: the losses
// are a few f32 operations (exp, log1p, pow, divisions) deep.
constexpr double kF32Rel = 1e-5;

Tensor poisoned(const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  t.poison();
  return t;
}

double rel_diff(const Tensor& a, const Tensor& b) { return test::max_abs_diff(a, b) / (1 + test::max_abs(b)); }

struct Case {
  DetectionLoss loss;
  float a, b;
  const char* name;
};

const Case kCases[] = {{DetectionLoss::kSmoothL1, 1.0f / 9, 0, "smooth_l1 beta 1/9"},
                       {DetectionLoss::kSmoothL1, 0, 0, "smooth_l1 beta 0"},
                       {DetectionLoss::kGiou, static_cast<float>(ops::kGiouLossEps), 0, "giou"},
                       {DetectionLoss::kSigmoidFocal, 0.25f, 2, "focal 0.25 2"},
                       {DetectionLoss::kSigmoidFocal, -1, 0, "focal -1 0"},
                       {DetectionLoss::kSigmoidFocal, 0.5f, 1.5f, "focal 0.5 1.5"}};

// The CPU reference of case c: the loss, or its gradient times dloss (undefined: ones) and 0.5.
Tensor reference(const Case& c, const Tensor& x, const Tensor& t, const Tensor& dloss, bool backward) {
  const bool giou = c.loss == DetectionLoss::kGiou;
  Tensor out = poisoned(backward ? x.shape() : giou ? Shape{x.size(0)} : x.shape());
  switch (c.loss) {
    case DetectionLoss::kSmoothL1:
      backward ? ops::smooth_l1_loss_backward(dloss, x, t, c.a, 0.5, out) : ops::smooth_l1_loss_forward(x, t, c.a, out);
      break;
    case DetectionLoss::kGiou:
      backward ? ops::giou_loss_backward(dloss, x, t, c.a, 0.5, out) : ops::giou_loss_forward(x, t, c.a, out);
      break;
    case DetectionLoss::kSigmoidFocal:
      backward ? ops::sigmoid_focal_loss_backward(dloss, x, t, c.a, c.b, 0.5, out)
               : ops::sigmoid_focal_loss_forward(x, t, c.a, c.b, out);
      break;
  }
  return out;
}

template <DetectionLoss kKind>
void run_kernel(const kl::Params& p, kl::Pass pass, int64_t blocks, float* out) {
  emu::launch(dim3(static_cast<unsigned>(blocks)), dim3(kl::kThreads), 0, [&] {
    if (pass == kl::Pass::kBackward) {
      kl::loss_kernel<kKind, kl::Pass::kBackward>(p, out);
    } else {
      kl::loss_kernel<kKind, kl::Pass::kForward>(p, out);
    }
  });
}

void run(DetectionLoss loss, const kl::Params& p, kl::Pass pass, int64_t blocks, float* out) {
  switch (loss) {
    case DetectionLoss::kSmoothL1: return run_kernel<DetectionLoss::kSmoothL1>(p, pass, blocks, out);
    case DetectionLoss::kGiou: return run_kernel<DetectionLoss::kGiou>(p, pass, blocks, out);
    case DetectionLoss::kSigmoidFocal: return run_kernel<DetectionLoss::kSigmoidFocal>(p, pass, blocks, out);
  }
}

TEST(EmuDetectionLoss, ForwardAndBackwardMatchTheCpu) {
  const int64_t n = 700;  // elements, or box pairs for GIoU
  for (const Case& c : kCases) {
    const bool giou = c.loss == DetectionLoss::kGiou;
    Tensor x, t;
    if (giou) {
      x = test::random_boxes(n, 1, DType::kF32, 60, 0, 40, 17);
      t = test::random_boxes(n, 2, DType::kF32, 60, 0, 40, 23);
    } else {
      x = test::to_dtype(test::random_tensor({n}, DType::kF64, 3, -6.0, 6.0), DType::kF32);
      t = test::to_dtype(test::random_tensor({n}, DType::kF64, 4, 0.0, 1.0), DType::kF32);
      for (int64_t i = 0; i < n; i += 2) t.data<float>()[i] = static_cast<float>(i % 4 == 0);  // hard targets
    }
    const Tensor dloss = test::to_dtype(test::random_tensor({n}, DType::kF64, 5), DType::kF32);
    kl::Params p;
    p.n = n;
    p.x = x.data<float>();
    p.target = t.data<float>();
    p.a = c.a;
    p.b = c.b;
    p.grad_scale = 0.5f;
    for (int64_t blocks : {(n + kl::kThreads - 1) / kl::kThreads, int64_t{1}}) {
      Tensor loss = poisoned({n});
      run(c.loss, p, kl::Pass::kForward, blocks, loss.data<float>());
      EXPECT_LE(rel_diff(loss, reference(c, x, t, Tensor(), false)), kF32Rel) << c.name << " forward";
      for (bool with_dloss : {false, true}) {
        Tensor dx = poisoned(x.shape());
        kl::Params q = p;
        q.dloss = with_dloss ? dloss.data<float>() : nullptr;
        if (with_dloss && !giou) {  // in place over dloss
          dx.copy_from(dloss);
          q.dloss = dx.data<float>();
        }
        run(c.loss, q, kl::Pass::kBackward, blocks, dx.data<float>());
        EXPECT_LE(rel_diff(dx, reference(c, x, t, with_dloss ? dloss : Tensor(), true)), kF32Rel)
            << c.name << " backward, dloss " << with_dloss << ", blocks " << blocks;
      }
    }
  }
}

}  // namespace
}  // namespace attncamp
