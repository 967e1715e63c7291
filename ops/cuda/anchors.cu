// CUDA launcher of grid_anchors (ops/anchors.h); the kernel is in ops/cuda/anchors.cuh.
#include <cuda_runtime.h>

#include "ops/anchors.h"
#include "ops/cuda/anchors.cuh"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {

void grid_anchors(const GridAnchorsArgs& a) {
  const int64_t total = a.fh * a.fw * a.cells;
  if (total == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  anchors::Params p;
  p.fh = a.fh;
  p.fw = a.fw;
  p.stride_h = a.stride_h;
  p.stride_w = a.stride_w;
  p.cells = a.cells;
  for (int i = 0; i < kMaxCudaCellAnchors; ++i) {
    for (int k = 0; k < 4; ++k) p.cell[i][k] = a.cell[i][k];
  }
  p.anchors = a.anchors;
  anchors::grid_anchors_kernel<<<::attncamp::cuda::grid_1d(total, anchors::kThreads), anchors::kThreads, 0, s>>>(p);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace attncamp::ops::cuda
