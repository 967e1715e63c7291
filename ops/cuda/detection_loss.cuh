// CUDA kernels of the detection losses (ops/detection_loss.h), f32, included by
// ops/cuda/detection_loss.cu and run on the CPU by tests/ops/emu_detection_loss_test.cpp through
// the CUDA emulator: one element (one box pair for GIoU) per thread in grid-stride loops, each
// reading its inputs before writing its output, so outputs may alias inputs elementwise.
#pragma once

#include <cstdint>

#include "ops/detection_loss.h"

namespace attncamp::ops::cuda::detection_loss {

constexpr int kThreads = 256;  // threads per block (any grid size works)

struct Params {
  int64_t n = 0;
  const float* x = nullptr;
  const float* target = nullptr;
  const float* dloss = nullptr;  // nullptr: ones
  float a = 0, b = 0, grad_scale = 1;
};

__device__ __forceinline__ float upstream(const Params& p, int64_t i) {
  return p.grad_scale * (p.dloss != nullptr ? p.dloss[i] : 1.0f);
}

__device__ __forceinline__ float smooth_l1(float d, float beta) {
  const float n = fabsf(d);
  return beta < static_cast<float>(kSmoothL1MinBeta) ? n : (n < beta ? 0.5f * n * n / beta : n - 0.5f * beta);
}

__device__ __forceinline__ float smooth_l1_grad(float d, float beta) {
  if (beta >= static_cast<float>(kSmoothL1MinBeta) && fabsf(d) < beta) return d / beta;
  return d > 0 ? 1.0f : (d < 0 ? -1.0f : 0.0f);
}

__device__ __forceinline__ float sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

// The sigmoid focal loss of logit x and target t (grad: its derivative in x instead).
__device__ __forceinline__ float focal(float x, float t, float alpha, float gamma, bool grad) {
  const float p = sigmoid(x), q = sigmoid(-x);
  const float ce = fmaxf(x, 0.0f) - x * t + log1pf(expf(-fabsf(x)));
  const float m = t * q + (1 - t) * p;
  const float alpha_t = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1.0f;
  if (!grad) return alpha_t * ce * powf(m, gamma);
  float g = (p - t) * powf(m, gamma);
  if (gamma != 0 && m != 0) g += gamma * ce * powf(m, gamma - 1) * p * q * (1 - 2 * t);
  return alpha_t * g;
}

// Share of the gradient of max(a, b) (or, with `min`, of min(a, b)) that goes to a.
__device__ __forceinline__ float share(float a, float b, bool min) {
  if (a == b) return 0.5f;
  return (min ? a < b : a > b) ? 1.0f : 0.0f;
}

// The GIoU loss of box b against target g (xyxy), and with `grad` its gradient in b's coordinates
// times `up` into d[4] (ops/cpu/detection_loss.cpp derives it).
__device__ __forceinline__ float giou(const float* b, const float* g, float eps, bool grad, float up, float* d) {
  const float x1 = b[0], y1 = b[1], x2 = b[2], y2 = b[3];
  const float gx1 = g[0], gy1 = g[1], gx2 = g[2], gy2 = g[3];
  const float iw = fminf(x2, gx2) - fmaxf(x1, gx1), ih = fminf(y2, gy2) - fmaxf(y1, gy1);
  const bool overlap = iw > 0 && ih > 0;
  const float inter = overlap ? iw * ih : 0.0f;
  const float uni = (x2 - x1) * (y2 - y1) + (gx2 - gx1) * (gy2 - gy1) - inter;
  const float cw = fmaxf(x2, gx2) - fminf(x1, gx1), ch = fmaxf(y2, gy2) - fminf(y1, gy1);
  const float c = cw * ch;
  const float u1 = uni + eps, c1 = c + eps;
  if (!grad) return 1.0f - inter / u1 + (c - uni) / c1;
  const float d_inter = overlap ? 1 / u1 + inter / (u1 * u1) - 1 / c1 : 0.0f;
  const float d_area = 1 / c1 - inter / (u1 * u1);
  const float d_c = -(eps + uni) / (c1 * c1);
  d[0] = -up * (d_area * -(y2 - y1) + d_inter * -ih * share(x1, gx1, false) + d_c * -ch * share(x1, gx1, true));
  d[1] = -up * (d_area * -(x2 - x1) + d_inter * -iw * share(y1, gy1, false) + d_c * -cw * share(y1, gy1, true));
  d[2] = -up * (d_area * (y2 - y1) + d_inter * ih * share(x2, gx2, true) + d_c * ch * share(x2, gx2, false));
  d[3] = -up * (d_area * (x2 - x1) + d_inter * iw * share(y2, gy2, true) + d_c * cw * share(y2, gy2, false));
  return 0.0f;
}

enum class Pass { kForward, kBackward };

// loss[i] (forward) or dx[i] (backward) of the loss kKind, one element or box pair per thread.
template <DetectionLoss kKind, Pass kPass>
__global__ void __launch_bounds__(kThreads) loss_kernel(const Params p, float* out) {
  constexpr bool kBackward = kPass == Pass::kBackward;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += step) {
    if (kKind == DetectionLoss::kGiou) {
      float d[4];
      const float v = giou(p.x + 4 * i, p.target + 4 * i, p.a, kBackward, kBackward ? upstream(p, i) : 0.0f, d);
      if (kBackward) {
        for (int k = 0; k < 4; ++k) out[4 * i + k] = d[k];
      } else {
        out[i] = v;
      }
    } else if (kKind == DetectionLoss::kSmoothL1) {
      const float d = p.x[i] - p.target[i];
      out[i] = kBackward ? upstream(p, i) * smooth_l1_grad(d, p.a) : smooth_l1(d, p.a);
    } else {
      const float v = focal(p.x[i], p.target[i], p.a, p.b, kBackward);
      out[i] = kBackward ? upstream(p, i) * v : v;
    }
  }
}

}  // namespace attncamp::ops::cuda::detection_loss
