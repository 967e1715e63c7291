// CUDA launchers of the box ops (ops/boxes.h); the kernels are in ops/cuda/boxes.cuh. The keep list
// of remove_small_boxes takes three launches (count per chunk, offsets, indices) with one 8-byte
// copy of the count in between; check_boxes two (per-warp minimum, final minimum) and one 8-byte
// copy of the first invalid index.
#include <cuda_runtime.h>

#include <cstdint>

#include "ops/boxes.h"
#include "ops/cuda/boxes.cuh"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {

namespace {

unsigned blocks(int64_t n) { return static_cast<unsigned>(n); }
// Blocks of boxes::kThreads for a grid-stride loop over n items.
unsigned stride_grid(int64_t n) { return ::attncamp::cuda::grid_1d(n, boxes::kThreads); }

// Copies one i64 from the device to the host and waits for the stream.
int64_t fetch(const int64_t* src, cudaStream_t s) {
  int64_t v = 0;
  ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(&v, src, sizeof(v), cudaMemcpyDeviceToHost, s));
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(s));
  return v;
}

}  // namespace

void box_iou(const BoxIouArgs& a) {
  if (a.n == 0 || a.m == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  boxes::IouParams p;
  p.n = a.n;
  p.m = a.m;
  p.a = a.a;
  p.b = a.b;
  p.out = a.out;
  p.generalized = a.generalized;
  boxes::iou_kernel<<<stride_grid(a.n * a.m), boxes::kThreads, 0, s>>>(p);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void box_convert(const BoxConvertArgs& a) {
  if (a.n == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  boxes::ConvertParams p;
  p.n = a.n;
  p.in = a.in;
  p.out = a.out;
  p.from = a.from;
  p.to = a.to;
  boxes::convert_kernel<<<stride_grid(a.n), boxes::kThreads, 0, s>>>(p);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void clip_boxes_to_image(const ClipBoxesArgs& a) {
  if (a.n == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  boxes::ClipParams p;
  p.n = a.n;
  p.in = a.in;
  p.out = a.out;
  p.height = a.height;
  p.width = a.width;
  boxes::clip_kernel<<<stride_grid(4 * a.n), boxes::kThreads, 0, s>>>(p);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

Tensor remove_small_boxes(const SmallBoxesArgs& a) {
  const Device device = Device::cuda(a.device);
  if (a.n == 0) return Tensor::empty({0}, DType::kI64, device);
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  boxes::SmallBoxParams p;
  p.n = a.n;
  p.boxes = a.boxes;
  p.min_size = a.min_size;
  const int64_t chunks = boxes::chunk_count(a.n);
  // offsets[0, chunks): the counts, then (in place) their exclusive prefix sums; offsets[chunks]: K.
  Tensor offsets = Tensor::empty({chunks + 1}, DType::kI64, device);
  int64_t* off = offsets.data<int64_t>();
  boxes::small_box_count_kernel<<<blocks(boxes::chunk_blocks(a.n)), boxes::kThreads, 0, s>>>(p, off);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  boxes::scan_counts_kernel<<<1, boxes::kWarp, 0, s>>>(off, chunks, off, off + chunks);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  const int64_t kept = fetch(off + chunks, s);
  Tensor keep = Tensor::empty({kept}, DType::kI64, device);
  if (kept == 0) return keep;
  boxes::small_box_scatter_kernel<<<blocks(boxes::chunk_blocks(a.n)), boxes::kThreads, 0, s>>>(p, off,
                                                                                               keep.data<int64_t>());
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  return keep;
}

int64_t first_bad_box(const CheckBoxesArgs& a) {
  if (a.n == 0) return 0;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  boxes::CheckParams p;
  p.n = a.n;
  p.boxes = a.boxes;
  const unsigned grid = stride_grid(a.n);
  const int64_t parts = int64_t{grid} * (boxes::kThreads / boxes::kWarp);
  Tensor partial = Tensor::empty({parts + 1}, DType::kI64, Device::cuda(a.device));
  int64_t* part = partial.data<int64_t>();
  boxes::first_bad_partial_kernel<<<grid, boxes::kThreads, 0, s>>>(p, part);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  boxes::first_bad_final_kernel<<<1, boxes::kWarp, 0, s>>>(part, parts, a.n, part + parts);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  return fetch(part + parts, s);
}

}  // namespace attncamp::ops::cuda
