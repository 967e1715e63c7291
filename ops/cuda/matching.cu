// CUDA proposal matching: with low-quality matches allowed, the largest quality of each ground
// truth first (highest_kernel, keys zeroed by a memset), then one thread per proposal
// (match_kernel; ops/cuda/matching_kernels.cuh). Deterministic: no float accumulation anywhere.
#include <algorithm>

#include "ops/cuda/matching_kernels.cuh"
#include "ops/matching.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {

void match_proposals(const MatchArgs& a) {
  if (a.proposals == 0) return;
  namespace k = match_kernels;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  Tensor highest;
  k::MatchParams mp;
  mp.gts = a.gts;
  mp.proposals = a.proposals;
  mp.iou = a.iou;
  mp.high = a.high;
  mp.low = a.low;
  mp.matches = a.matches;
  if (a.allow_low_quality_matches && a.gts > 0) {
    highest = Tensor::empty({a.gts}, DType::kI32, Device::cuda(a.device));
    ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(highest.raw_data(), 0, highest.nbytes(), s));
    k::HighestParams hp;
    hp.gts = a.gts;
    hp.proposals = a.proposals;
    hp.iou = a.iou;
    hp.highest = static_cast<uint32_t*>(highest.raw_data());
    const int64_t per_block = int64_t{k::kThreads} * k::kHighestPerThread;
    const dim3 grid(static_cast<unsigned>((a.proposals + per_block - 1) / per_block), static_cast<unsigned>(a.gts));
    k::highest_kernel<<<grid, k::kThreads, 0, s>>>(hp);
    ATTNCAMP_CUDA_LAUNCH_CHECK();
    mp.highest = hp.highest;
  }
  k::match_kernel<<<::attncamp::cuda::grid_1d(a.proposals, k::kThreads), k::kThreads, 0, s>>>(mp);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace attncamp::ops::cuda
