// CUDA kernel of grid_anchors (ops/anchors.h), included by ops/cuda/anchors.cu and run on the CPU
// by tests/ops/emu_anchors_test.cpp through the CUDA emulator: one anchor per thread in a
// grid-stride loop, the cell anchors read from the kernel's parameter struct.
// The kernels are static: each translation unit including this header (the launcher, the
// emulator test) holds its own copy.
#pragma once

#include <cstdint>

#include "ops/anchors.h"

namespace attncamp::ops::cuda::anchors {

constexpr int kThreads = 256;  // threads per block (any grid size works)

struct Params {
  int64_t fh = 0, fw = 0, stride_h = 1, stride_w = 1;
  int cells = 0;
  float cell[kMaxCudaCellAnchors][4];
  float* anchors = nullptr;  // [fh * fw * cells, 4]
};

static __global__ void __launch_bounds__(kThreads) grid_anchors_kernel(const Params p) {
  const int64_t total = p.fh * p.fw * p.cells;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += step) {
    const int64_t loc = e / p.cells;
    const int a = static_cast<int>(e % p.cells);
    const float sx = static_cast<float>((loc % p.fw) * p.stride_w), sy = static_cast<float>((loc / p.fw) * p.stride_h);
    float* o = p.anchors + 4 * e;
    o[0] = sx + p.cell[a][0];
    o[1] = sy + p.cell[a][1];
    o[2] = sx + p.cell[a][2];
    o[3] = sy + p.cell[a][3];
  }
}

}  // namespace attncamp::ops::cuda::anchors
