// CUDA kernels of the box coding (ops/box_coding.h), f32, included by ops/cuda/box_coding.cu and
// run on the CPU by tests/ops/emu_box_coding_test.cpp through the CUDA emulator: one box per
// thread in grid-stride loops (encode: n boxes; decode and its backward: n * k boxes, box e
// belonging to reference row e / k).
// The kernels are static: each translation unit including this header (the launcher, the
// emulator test) holds its own copy.
#pragma once

#include <cstdint>

namespace attncamp::ops::cuda::box_coding {

constexpr int kThreads = 256;  // threads per block (any grid size works)

struct Params {
  int64_t n = 0, k = 1;
  const float* reference = nullptr;  // [n,4]
  float wx = 1, wy = 1, ww = 1, wh = 1;
  float clip = 0;
};

// A reference box's width, height and centre.
struct Ref {
  float w, h, cx, cy;
};
__device__ __forceinline__ Ref ref_box(const float* r) {
  Ref b;
  b.w = r[2] - r[0];
  b.h = r[3] - r[1];
  b.cx = r[0] + 0.5f * b.w;
  b.cy = r[1] + 0.5f * b.h;
  return b;
}

static __global__ void __launch_bounds__(kThreads) encode_kernel(const Params p, const float* target, float* deltas) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += step) {
    const Ref r = ref_box(p.reference + 4 * i);
    const Ref t = ref_box(target + 4 * i);
    float* d = deltas + 4 * i;
    d[0] = p.wx * (t.cx - r.cx) / r.w;
    d[1] = p.wy * (t.cy - r.cy) / r.h;
    d[2] = p.ww * logf(t.w / r.w);
    d[3] = p.wh * logf(t.h / r.h);
  }
}

static __global__ void __launch_bounds__(kThreads) decode_kernel(const Params p, const float* deltas, float* boxes) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < p.n * p.k; e += step) {
    const Ref r = ref_box(p.reference + 4 * (e / p.k));
    const float* d = deltas + 4 * e;
    const float dw = fminf(d[2] / p.ww, p.clip), dh = fminf(d[3] / p.wh, p.clip);
    const float pcx = d[0] / p.wx * r.w + r.cx, pcy = d[1] / p.wy * r.h + r.cy;
    const float half_w = 0.5f * (expf(dw) * r.w), half_h = 0.5f * (expf(dh) * r.h);
    float* b = boxes + 4 * e;
    b[0] = pcx - half_w;
    b[1] = pcy - half_h;
    b[2] = pcx + half_w;
    b[3] = pcy + half_h;
  }
}

// ddeltas may alias dboxes: each thread reads its box's gradient before writing.
static __global__ void __launch_bounds__(kThreads)
    decode_backward_kernel(const Params p, const float* dboxes, const float* deltas, float* ddeltas) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < p.n * p.k; e += step) {
    const Ref r = ref_box(p.reference + 4 * (e / p.k));
    const float g0 = dboxes[4 * e], g1 = dboxes[4 * e + 1], g2 = dboxes[4 * e + 2], g3 = dboxes[4 * e + 3];
    const float dw = deltas[4 * e + 2] / p.ww, dh = deltas[4 * e + 3] / p.wh;
    float* out = ddeltas + 4 * e;
    out[0] = (g0 + g2) * r.w / p.wx;
    out[1] = (g1 + g3) * r.h / p.wy;
    out[2] = dw > p.clip ? 0.0f : (g2 - g0) * 0.5f * expf(dw) * r.w / p.ww;
    out[3] = dh > p.clip ? 0.0f : (g3 - g1) * 0.5f * expf(dh) * r.h / p.wh;
  }
}

}  // namespace attncamp::ops::cuda::box_coding
