// CPU top-k selection and the tensor-level API (CUDA tensors go to ops/cuda/nms_topk.cu): each
// score becomes (score key, index); for a small k nth_element finds the k smallest pairs and a sort
// orders them, O(N + k log k), otherwise a stable radix sort orders all N by key.
#include "ops/nms_topk.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "ops/cpu/nms_radix_sort.h"
#include "ops/dispatch.h"
#include "ops/nms_math.h"

namespace attncamp::ops {
namespace cpu {
namespace {

// Below n / kSelectFraction, select the k best (nth_element, O(n)) and sort only those; above,
// sort all n by key (radix sort, O(n) per key byte).
constexpr int64_t kSelectFraction = 16;

// The k smallest elements of v, sorted, at its front.
template <class V>
void smallest_sorted(std::vector<V>& v, int64_t k) {
  if (k < static_cast<int64_t>(v.size())) std::nth_element(v.begin(), v.begin() + k, v.end());
  std::sort(v.begin(), v.begin() + k);
}

}  // namespace

template <class T>
void topk_indices(const T* scores, int64_t n, int64_t k, int64_t* out) {
  k = std::min(k, n);
  if (k <= n / kSelectFraction) {
    std::vector<std::pair<decltype(score_key(T())), int64_t>> keyed(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) keyed[i] = {score_key(scores[i]), i};
    smallest_sorted(keyed, k);
    for (int64_t j = 0; j < k; ++j) out[j] = keyed[j].second;
    return;
  }
  // A stable sort by key keeps equal keys in index order.
  std::vector<decltype(score_key(T()))> keys(static_cast<size_t>(n));
  std::vector<int64_t> indices(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    keys[i] = score_key(scores[i]);
    indices[i] = i;
  }
  radix_sort_pairs(keys, indices);
  std::copy(indices.begin(), indices.begin() + k, out);
}

template void topk_indices<float>(const float*, int64_t, int64_t, int64_t*);
template void topk_indices<double>(const double*, int64_t, int64_t, int64_t*);

}  // namespace cpu

Tensor topk_indices(const Tensor& scores, int64_t k) {
  const char* op = "topk_indices";
  const bool cuda = on_cuda(op, {&scores});
  check_arg(op, "scores", scores, cuda ? DTypeSet{DType::kF32} : kCpuFloat);
  check_dim(op, "scores", scores, 1, "[N]");
  ATTNCAMP_CHECK(k >= 0, op, ": k must be >= 0; got ", k);
  const int64_t n = scores.size(0), m = std::min(k, n);
  Tensor out = Tensor::empty({m}, DType::kI64, scores.device());
  if (m == 0) return out;
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::TopkIndicesArgs a;
    a.n = n;
    a.k = m;
    a.scores = scores.data<float>();
    a.out = out.data<int64_t>();
    a.device = scores.device().index;
    cuda::topk_indices(a);
#endif
    return out;
  }
  dispatch_float(scores.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::topk_indices(scores.data<T>(), n, m, out.data<int64_t>());
  });
  return out;
}

}  // namespace attncamp::ops
