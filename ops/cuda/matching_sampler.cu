// CUDA balanced sampling: sort keys (kind, Philox key) for every candidate, CUB's stable radix sort,
// the runs of each kind, the sampled candidates flagged by index, and two flagged selections (CUB)
// that list them in index order (ops/cuda/matching_sampler.cuh). Only the two counts come back to
// the host, in one 16-byte copy, to shape the results.
#include "ops/cuda/matching_sampler.cuh"
#include "ops/cuda/nms_cub.cuh"
#include "ops/matching_sampler.h"
#include "ops/nms_topk.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {

BalancedSample balanced_sample(const SampleArgs& a) {
  namespace k = sample_kernels;
  const Device dev = Device::cuda(a.device);
  const int64_t n = a.candidates;
  BalancedSample out;
  if (n == 0) {
    out.positive = Tensor::empty({0}, DType::kI64, dev);
    out.negative = Tensor::empty({0}, DType::kI64, dev);
    return out;
  }
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  const unsigned grid = ::attncamp::cuda::grid_1d(n, k::kThreads);
  Tensor keys = Tensor::empty({n}, DType::kI64, dev), sorted_keys = Tensor::empty({n}, DType::kI64, dev);
  Tensor indices = Tensor::empty({n}, DType::kI32, dev), order = Tensor::empty({n}, DType::kI32, dev);
  k::KeysParams kp;
  kp.n = n;
  kp.labels = a.labels;
  kp.labels_i32 = a.labels_i32;
  kp.step_seed = sampler_step_seed(a.key.seed, a.key.step);
  kp.image = a.key.image;
  kp.keys = reinterpret_cast<uint64_t*>(keys.data<int64_t>());
  kp.values = indices.data<int32_t>();
  k::keys_kernel<<<grid, k::kThreads, 0, s>>>(kp);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  uint64_t* sorted = reinterpret_cast<uint64_t*>(sorted_keys.data<int64_t>());
  radix_sort_pairs(kp.keys, sorted, kp.values, order.data<int32_t>(), n, a.device, s);

  Tensor starts = Tensor::empty({4}, DType::kI64, dev);
  k::BoundsParams bp;
  bp.n = n;
  bp.sorted_keys = sorted;
  bp.starts = starts.data<int64_t>();
  k::bounds_kernel<<<grid, k::kThreads, 0, s>>>(bp);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  Tensor flags = Tensor::empty({2, n}, DType::kU8, dev);
  k::SelectParams sp;
  sp.n = n;
  sp.sorted_keys = sorted;
  sp.order = order.data<int32_t>();
  sp.starts = bp.starts;
  sp.max_positive = a.max_positive;
  sp.batch = a.batch;
  sp.positive = flags.data<uint8_t>();
  sp.negative = sp.positive + n;
  k::select_kernel<<<grid, k::kThreads, 0, s>>>(sp);
  ATTNCAMP_CUDA_LAUNCH_CHECK();

  Tensor lists = Tensor::empty({2, n}, DType::kI32, dev), counts = Tensor::empty({2}, DType::kI64, dev);
  int32_t* pos_list = lists.data<int32_t>();
  int64_t* count = counts.data<int64_t>();
  select_flagged(kp.values, sp.positive, pos_list, count, n, a.device, s);
  select_flagged(kp.values, sp.negative, pos_list + n, count + 1, n, a.device, s);
  int64_t host[2] = {0, 0};
  ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(host, count, sizeof(host), cudaMemcpyDeviceToHost, s));
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(s));
  out.positive = Tensor::empty({host[0]}, DType::kI64, dev);
  out.negative = Tensor::empty({host[1]}, DType::kI64, dev);
  widen_indices(pos_list, host[0], out.positive.data<int64_t>(), a.device);
  widen_indices(pos_list + n, host[1], out.negative.data<int64_t>(), a.device);
  return out;
}

}  // namespace attncamp::ops::cuda
