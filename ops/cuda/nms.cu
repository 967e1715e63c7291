// CUDA NMS launcher: the score order (cuda::score_order: CUB radix sort by key, then index), cut to
// the max_candidates best; for the per-class path a second stable sort by class; the boxes gathered
// in visiting order; the suppression bitmask and the greedy sweep (ops/cuda/nms_kernels.cuh), one
// block for all boxes or one block per class; then the kept flags, which the sweep writes by
// score-order position, select the kept indices in score order (CUB), and only their count comes
// back to the host to shape the result.
#include <algorithm>
#include <cstdint>

#include "ops/cuda/nms_cub.cuh"
#include "ops/cuda/nms_kernels.cuh"
#include "ops/nms.h"
#include "ops/nms_topk.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

namespace k = nms_kernels;
constexpr int kThreads = 256;

}  // namespace

Tensor nms(const NmsArgs& a) {
  const Device dev = Device::cuda(a.device);
  const int64_t m = a.max_candidates < 0 ? a.n : std::min(a.n, a.max_candidates);
  if (m == 0) return Tensor::empty({0}, DType::kI64, dev);
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  const unsigned grid = ::attncamp::cuda::grid_1d(m, kThreads);
  const bool class_i32 = a.class_dtype == DType::kI32;
  const bool per_class = a.per_class && a.class_ids != nullptr;

  // Score order; its first m entries are the candidates.
  Tensor order = Tensor::empty({a.n}, DType::kI32, dev);
  score_order(a.scores, a.n, order.data<int32_t>(), a.device);

  // Visiting order: per class (classes ascending, each in score order), or the score order.
  Tensor classes, ranks;
  if (a.class_ids != nullptr) classes = Tensor::empty({m}, DType::kI64, dev);
  if (per_class) {
    Tensor class_keys = Tensor::empty({m}, DType::kI64, dev), positions = Tensor::empty({m}, DType::kI32, dev);
    ranks = Tensor::empty({m}, DType::kI32, dev);
    k::ClassKeysParams c;
    c.m = m;
    c.order = order.data<int32_t>();
    c.class_ids = a.class_ids;
    c.class_i32 = class_i32;
    c.class_keys = class_keys.data<int64_t>();
    c.ranks = positions.data<int32_t>();
    k::class_keys_kernel<<<grid, kThreads, 0, s>>>(c);
    ATTNCAMP_CUDA_LAUNCH_CHECK();
    radix_sort_pairs(c.class_keys, classes.data<int64_t>(), c.ranks, ranks.data<int32_t>(), m, a.device, s);
  }
  Tensor sorted = Tensor::empty({m, 4}, DType::kF32, dev), area = Tensor::empty({m}, DType::kF32, dev);
  k::GatherParams g;
  g.m = m;
  g.order = order.data<int32_t>();
  g.ranks = per_class ? ranks.data<int32_t>() : nullptr;
  g.boxes = a.boxes;
  g.class_ids = a.class_ids;
  g.class_i32 = class_i32;
  g.sorted = reinterpret_cast<float4*>(sorted.data<float>());
  g.area = area.data<float>();
  g.classes = a.class_ids != nullptr && !per_class ? classes.data<int64_t>() : nullptr;
  k::gather_kernel<<<grid, kThreads, 0, s>>>(g);
  ATTNCAMP_CUDA_LAUNCH_CHECK();

  // Suppression bitmask and the sweep; keep flags by score-order position.
  const int64_t col_blocks = (m + k::kBlockBoxes - 1) / k::kBlockBoxes;
  Tensor mask = Tensor::empty({m * col_blocks}, DType::kI64, dev);
  k::MaskParams mp;
  mp.m = m;
  mp.col_blocks = col_blocks;
  mp.boxes = g.sorted;
  mp.area = g.area;
  mp.classes = a.class_ids != nullptr ? classes.data<int64_t>() : nullptr;
  mp.classes_sorted = per_class;
  mp.threshold = nms_threshold<float>(a.iou_threshold);
  mp.mask = reinterpret_cast<uint64_t*>(mask.data<int64_t>());
  const dim3 mask_grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(col_blocks));
  k::mask_kernel<<<mask_grid, k::kBlockBoxes, 0, s>>>(mp);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  Tensor keep_flags = Tensor::empty({m}, DType::kU8, dev);
  k::SweepParams sp;
  sp.m = m;
  sp.col_blocks = col_blocks;
  sp.mask = mp.mask;
  sp.classes = mp.classes;
  sp.classes_sorted = per_class;
  sp.ranks = g.ranks;
  sp.keep = keep_flags.data<uint8_t>();
  const unsigned sweep_grid = per_class ? static_cast<unsigned>(std::min<int64_t>(m, k::kMaxSweepBlocks)) : 1;
  k::sweep_kernel<<<sweep_grid, k::kSweepThreads, k::sweep_smem_bytes(col_blocks), s>>>(sp);
  ATTNCAMP_CUDA_LAUNCH_CHECK();

  // The kept indices in score order; their count is all the host waits for.
  Tensor kept = Tensor::empty({m}, DType::kI32, dev), count = Tensor::empty({1}, DType::kI64, dev);
  select_flagged(order.data<int32_t>(), sp.keep, kept.data<int32_t>(), count.data<int64_t>(), m, a.device, s);
  int64_t kept_count = 0;
  ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(&kept_count, count.raw_data(), sizeof(kept_count), cudaMemcpyDeviceToHost, s));
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(s));
  Tensor keep = Tensor::empty({kept_count}, DType::kI64, dev);
  widen_indices(kept.data<int32_t>(), kept_count, keep.data<int64_t>(), a.device);
  return keep;
}

}  // namespace attncamp::ops::cuda
