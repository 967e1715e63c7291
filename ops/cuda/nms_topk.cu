// CUDA top-k selection: every score gets its sort key and index (nms_topk.cuh), CUB's stable radix
// sort orders the pairs by key (equal keys keep index order), and the first k indices are widened
// into the i64 result. The full sort costs O(N) passes of 8 bits, a few for any k.
#include "ops/cuda/nms_cub.cuh"
#include "ops/cuda/nms_topk.cuh"
#include "ops/nms_topk.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;

}  // namespace

void score_order(const float* scores, int64_t n, int32_t* order, int device) {
  if (n == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(device);
  const Device dev = Device::cuda(device);
  Tensor keys = Tensor::empty({n}, DType::kI32, dev), sorted_keys = Tensor::empty({n}, DType::kI32, dev);
  Tensor indices = Tensor::empty({n}, DType::kI32, dev);
  nms_kernels::KeysParams p;
  p.n = n;
  p.scores = scores;
  p.keys = static_cast<uint32_t*>(keys.raw_data());
  p.values = indices.data<int32_t>();
  nms_kernels::keys_kernel<<<::attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(p);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  radix_sort_pairs(p.keys, static_cast<uint32_t*>(sorted_keys.raw_data()), p.values, order, n, device, s);
}

void widen_indices(const int32_t* in, int64_t n, int64_t* out, int device) {
  if (n == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(device);
  nms_kernels::WidenParams p;
  p.n = n;
  p.in = in;
  p.out = out;
  nms_kernels::widen_kernel<<<::attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(p);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void topk_indices(const TopkIndicesArgs& a) {
  if (a.k == 0) return;
  Tensor order = Tensor::empty({a.n}, DType::kI32, Device::cuda(a.device));
  score_order(a.scores, a.n, order.data<int32_t>(), a.device);
  widen_indices(order.data<int32_t>(), a.k, a.out, a.device);
}

}  // namespace attncamp::ops::cuda
