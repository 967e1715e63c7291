// CUDA launchers of the detection losses (ops/detection_loss.h); the kernels are in
// ops/cuda/detection_loss.cuh, one instantiation per loss and direction.
#include <cuda_runtime.h>

#include "ops/cuda/detection_loss.cuh"
#include "ops/detection_loss.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {

namespace {

template <detection_loss::Pass kPass>
void launch(const DetectionLossArgs& a, float* out) {
  if (a.n == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  detection_loss::Params p;
  p.n = a.n;
  p.x = a.x;
  p.target = a.target;
  p.dloss = a.dloss;
  p.a = a.a;
  p.b = a.b;
  p.grad_scale = a.grad_scale;
  const unsigned grid = ::attncamp::cuda::grid_1d(a.n, detection_loss::kThreads);
  constexpr int kThreads = detection_loss::kThreads;
  switch (a.loss) {
    case DetectionLoss::kSmoothL1:
      detection_loss::loss_kernel<DetectionLoss::kSmoothL1, kPass><<<grid, kThreads, 0, s>>>(p, out);
      break;
    case DetectionLoss::kSigmoidFocal:
      detection_loss::loss_kernel<DetectionLoss::kSigmoidFocal, kPass><<<grid, kThreads, 0, s>>>(p, out);
      break;
    case DetectionLoss::kGiou:
      detection_loss::loss_kernel<DetectionLoss::kGiou, kPass><<<grid, kThreads, 0, s>>>(p, out);
      break;
  }
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace

void detection_loss_forward(const DetectionLossArgs& a, float* loss) {
  launch<detection_loss::Pass::kForward>(a, loss);
}
void detection_loss_backward(const DetectionLossArgs& a, float* dx) { launch<detection_loss::Pass::kBackward>(a, dx); }

}  // namespace attncamp::ops::cuda
