// CPU reductions and the tensor-level API (CUDA tensors go to ops/cuda/reduce.cu). Sums split
// the input into fixed 4096-element chunks, each summed in double with eight lanes, and add the
// chunk totals in order, so the result is independent of the thread count. Row-wise ops run one
// row per iteration under a static schedule.
#include "ops/reduce.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <vector>

#include "ops/dispatch.h"

namespace attncamp::ops::cpu {
namespace {

constexpr int64_t kChunk = 4096;
constexpr int kLanes = 8;

template <typename T>
double chunked_sum(const T* x, int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(static)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t begin = ch * kChunk, end = std::min(n, begin + kChunk);
    double lane[kLanes] = {};
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
#pragma omp simd
      for (int w = 0; w < kLanes; ++w) lane[w] += static_cast<double>(x[i + w]);
    }
    for (; i < end; ++i) lane[0] += static_cast<double>(x[i]);
    double s = 0;
    for (int w = 0; w < kLanes; ++w) s += lane[w];
    part[ch] = s;
  }
  double total = 0;
  for (double s : part) total += s;
  return total;
}

// True when x[a] ranks before x[b]: larger first, lower index on ties; NaN ranks last.
template <typename T>
bool ranks_before(const T* x, int32_t a, int32_t b) {
  const T va = x[a], vb = x[b];
  if (std::isnan(va) || std::isnan(vb)) return std::isnan(vb) && (!std::isnan(va) || a < b);
  return va > vb || (va == vb && a < b);
}

template <typename T>
void argmax_kernel(const T* x, int64_t n, int64_t c_n, int32_t* idx) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T* row = x + i * c_n;
    int32_t best = 0;
    for (int32_t c = 1; c < c_n; ++c) {
      if (ranks_before(row, c, best)) best = c;
    }
    idx[i] = best;
  }
}

template <typename T>
void topk_kernel(const T* x, int64_t n, int64_t c_n, int k, T* values, int32_t* idx) {
#pragma omp parallel
  {
    std::vector<int32_t> order(static_cast<size_t>(c_n));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const T* row = x + i * c_n;
      for (int32_t c = 0; c < c_n; ++c) order[c] = c;
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [row](int32_t a, int32_t b) { return ranks_before(row, a, b); });
      for (int j = 0; j < k; ++j) {
        values[i * k + j] = row[order[j]];
        idx[i * k + j] = order[j];
      }
    }
  }
}

template <typename T>
int64_t count_topk_kernel(const T* x, int64_t n, int64_t c_n, const int32_t* labels, int k) {
  int64_t correct = 0;
#pragma omp parallel for schedule(static) reduction(+ : correct)
  for (int64_t i = 0; i < n; ++i) {
    const int32_t label = labels[i];
    if (label < 0) continue;
    const T* row = x + i * c_n;
    int64_t rank = 0;  // entries ranked before the label
    for (int32_t c = 0; c < c_n; ++c) rank += ranks_before(row, c, label) ? 1 : 0;
    correct += rank < k ? 1 : 0;
  }
  return correct;
}

void check_k(int k, int64_t classes, const char* op) {
  ATTNCAMP_CHECK(k >= 1 && k <= classes, op, ": k must be in [1, ", classes, "]; got ", k);
}

}  // namespace
}  // namespace attncamp::ops::cpu

namespace attncamp::ops {

double sum(const Tensor& x) {
  const bool cuda = on_cuda("sum", {&x});
  check_arg("sum", "x", x, activation_dtypes(cuda));
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    return cuda::sum(x.raw_data(), x.dtype(), x.numel(), false, x.device().index);
#endif
  }
  return dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    return cpu::chunked_sum(x.data<T>(), x.numel());
  });
}

double mean(const Tensor& x) {
  check_arg("mean", "x", x, activation_dtypes(on_cuda("mean", {&x})));
  ATTNCAMP_CHECK(x.numel() > 0, "mean: x must have elements; got the empty shape ", shape_str(x.shape()));
  return sum(x) / static_cast<double>(x.numel());
}

void argmax(const Tensor& x, Tensor& idx) {
  const char* op = "argmax";
  const bool cuda = on_cuda(op, {&x, &idx});
  check_logits(op, "x", x, activation_dtypes(cuda));
  check_exact(op, "idx", idx, {x.size(0)}, DType::kI32);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::argmax(x.raw_data(), x.dtype(), x.size(0), x.size(1), idx.data<int32_t>(), x.device().index);
#endif
    return;
  }
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::argmax_kernel(x.data<T>(), x.size(0), x.size(1), idx.data<int32_t>());
  });
}

void topk(const Tensor& x, int k, Tensor& values, Tensor& idx) {
  const char* op = "topk";
  const bool cuda = on_cuda(op, {&x, &values, &idx});
  check_logits(op, "x", x, activation_dtypes(cuda));
  cpu::check_k(k, x.size(1), op);
  check_exact(op, "values", values, {x.size(0), k}, x.dtype());
  check_exact(op, "idx", idx, {x.size(0), k}, DType::kI32);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::topk(x.raw_data(), x.dtype(), x.size(0), x.size(1), k, values.raw_data(), idx.data<int32_t>(),
               x.device().index);
#endif
    return;
  }
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::topk_kernel(x.data<T>(), x.size(0), x.size(1), k, values.data<T>(), idx.data<int32_t>());
  });
}

int64_t count_topk_correct(const Tensor& logits, const Tensor& labels, int k) {
  const char* op = "count_topk_correct";
  const bool cuda = on_cuda(op, {&logits, &labels});
  check_logits(op, "logits", logits, activation_dtypes(cuda));
  cpu::check_k(k, logits.size(1), op);
  const int64_t n = logits.size(0), classes = logits.size(1);
  check_exact(op, "labels", labels, {n}, DType::kI32);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    return cuda::count_topk_correct(logits.raw_data(), logits.dtype(), n, classes, labels.data<int32_t>(), k,
                                    logits.device().index);
#endif
  }
  check_class_labels(op, labels, classes);
  return dispatch_float(logits.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    return cpu::count_topk_kernel(logits.data<T>(), n, classes, labels.data<int32_t>(), k);
  });
}

}  // namespace attncamp::ops
