// CPU balanced sampling and the tensor-level API (CUDA tensors go to ops/cuda/matching_sampler.cu):
// the Philox key of every positive and negative candidate (OpenMP over candidates), then for each
// kind the (key, index) pairs with the smallest values (nth_element), listed by index.
#include "ops/matching_sampler.h"

#include <algorithm>
#include <vector>

#include "ops/dispatch.h"

namespace attncamp::ops {
namespace cpu {
namespace {

// The indices of the k smallest (key, index) pairs, ascending, to out[0, k).
void take_smallest(std::vector<std::pair<uint64_t, int64_t>>& keyed, int64_t k, int64_t* out) {
  if (k < static_cast<int64_t>(keyed.size())) std::nth_element(keyed.begin(), keyed.begin() + k, keyed.end());
  for (int64_t j = 0; j < k; ++j) out[j] = keyed[j].second;
  std::sort(out, out + k);
}

}  // namespace

template <class L>
std::pair<int64_t, int64_t> balanced_sample(const SampleParams<L>& p, int64_t* positive, int64_t* negative) {
  const int64_t n = p.candidates;
  const uint64_t step_seed = sampler_step_seed(p.key.seed, p.key.step);
  std::vector<uint64_t> keys(static_cast<size_t>(n));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    keys[i] = p.labels[i] >= 0 ? sampler_candidate_key(step_seed, p.key.image, static_cast<uint64_t>(i)) : 0;
  }
  std::vector<std::pair<uint64_t, int64_t>> pos, neg;
  for (int64_t i = 0; i < n; ++i) {
    if (p.labels[i] >= 1) {
      pos.push_back({keys[i], i});
    } else if (p.labels[i] == 0) {
      neg.push_back({keys[i], i});
    }
  }
  const int64_t kp = std::min(static_cast<int64_t>(pos.size()), p.max_positive);
  const int64_t kn = std::min(static_cast<int64_t>(neg.size()), p.batch - kp);
  take_smallest(pos, kp, positive);
  take_smallest(neg, kn, negative);
  return {kp, kn};
}

template std::pair<int64_t, int64_t> balanced_sample<int32_t>(const SampleParams<int32_t>&, int64_t*, int64_t*);
template std::pair<int64_t, int64_t> balanced_sample<int64_t>(const SampleParams<int64_t>&, int64_t*, int64_t*);

}  // namespace cpu

BalancedSample balanced_sample(const Tensor& labels, const SamplerOptions& options, const SampleKey& key) {
  const char* op = "balanced_sample";
  const bool cuda = on_cuda(op, {&labels});
  check_arg(op, "labels", labels, {DType::kI32, DType::kI64});
  check_dim(op, "labels", labels, 1, "[P]");
  ATTNCAMP_CHECK(options.batch_size_per_image >= 0, op, ": options.batch_size_per_image must be >= 0; got ",
                 options.batch_size_per_image);
  ATTNCAMP_CHECK(options.positive_fraction >= 0 && options.positive_fraction <= 1, op,
                 ": options.positive_fraction must be in [0, 1]; got ", options.positive_fraction);
  const int64_t n = labels.size(0);
  const int64_t max_positive =
      static_cast<int64_t>(static_cast<double>(options.batch_size_per_image) * options.positive_fraction);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::SampleArgs a;
    a.candidates = n;
    a.labels = labels.raw_data();
    a.labels_i32 = labels.dtype() == DType::kI32;
    a.max_positive = max_positive;
    a.batch = options.batch_size_per_image;
    a.key = key;
    a.device = labels.device().index;
    return cuda::balanced_sample(a);
#endif
  }
  std::vector<int64_t> pos(static_cast<size_t>(n)), neg(static_cast<size_t>(n));
  const auto counts = dispatch_dtype<DType::kI32, DType::kI64>(labels.dtype(), op, [&](auto tag) {
    using L = decltype(tag);
    cpu::SampleParams<L> p;
    p.candidates = n;
    p.labels = labels.data<L>();
    p.max_positive = max_positive;
    p.batch = options.batch_size_per_image;
    p.key = key;
    return cpu::balanced_sample(p, pos.data(), neg.data());
  });
  BalancedSample out;
  out.positive = Tensor::empty({counts.first}, DType::kI64);
  out.negative = Tensor::empty({counts.second}, DType::kI64);
  std::copy(pos.begin(), pos.begin() + counts.first, out.positive.data<int64_t>());
  std::copy(neg.begin(), neg.begin() + counts.second, out.negative.data<int64_t>());
  return out;
}

}  // namespace attncamp::ops
