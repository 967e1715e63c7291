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

void check_cpu_float(const Tensor& x, const char* op, const char* what) {
  ATTNCAMP_CHECK(x.defined(), what, " is undefined");
  ATTNCAMP_CHECK(x.dtype() == DType::kF32 || x.dtype() == DType::kF64, what, " must be f32 or f64, got ",
                 dtype_name(x.dtype()));
  ATTNCAMP_CHECK(x.is_contiguous(), what, " must be contiguous");
}

void check_rows(const Tensor& x, const char* op) {
  check_cpu_float(x, op, op);
  ATTNCAMP_CHECK(x.dim() == 2 && x.size(1) > 0, op, " expects [N,C] with C > 0, got ", shape_str(x.shape()));
}

void check_k(int k, int64_t classes, const char* op) {
  ATTNCAMP_CHECK(k >= 1 && k <= classes, op, ": k = ", k, " must be in [1, ", classes, "]");
}

}  // namespace
}  // namespace attncamp::ops::cpu

namespace attncamp::ops {
namespace {

// CUDA-side checks: x contiguous, an activation dtype, [N,C] with C > 0 when `rows` is set.
void check_cuda_float(const Tensor& x, const char* op, const char* what, bool rows) {
  check_cuda_activation(op, what, x);
  ATTNCAMP_CHECK(x.is_contiguous(), what, " must be contiguous");
  if (rows) ATTNCAMP_CHECK(x.dim() == 2 && x.size(1) > 0, op, " expects [N,C] with C > 0, got ", shape_str(x.shape()));
}

}  // namespace

double sum(const Tensor& x) {
  if (on_cuda("sum", {&x})) {
    check_cuda_float(x, "sum", "sum input", false);
#ifdef ATTNCAMP_WITH_CUDA
    return cuda::sum(x.raw_data(), x.dtype(), x.numel(), false, x.device().index);
#endif
  }
  cpu::check_cpu_float(x, "sum", "sum input");
  if (x.dtype() == DType::kF32) return cpu::chunked_sum(x.data<float>(), x.numel());
  return cpu::chunked_sum(x.data<double>(), x.numel());
}

double mean(const Tensor& x) {
  if (on_cuda("mean", {&x})) {
    check_cuda_float(x, "mean", "mean input", false);
  } else {
    cpu::check_cpu_float(x, "mean", "mean input");
  }
  ATTNCAMP_CHECK(x.numel() > 0, "mean of an empty tensor ", shape_str(x.shape()));
  return sum(x) / static_cast<double>(x.numel());
}

void argmax(const Tensor& x, Tensor& idx) {
  if (on_cuda("argmax", {&x, &idx})) {
    check_cuda_float(x, "argmax", "argmax", true);
    check_tensor(idx, {x.size(0)}, DType::kI32, "argmax idx");
#ifdef ATTNCAMP_WITH_CUDA
    cuda::argmax(x.raw_data(), x.dtype(), x.size(0), x.size(1), idx.data<int32_t>(), x.device().index);
#endif
    return;
  }
  cpu::check_rows(x, "argmax");
  check_tensor(idx, {x.size(0)}, DType::kI32, "argmax idx");
  if (x.dtype() == DType::kF32) {
    cpu::argmax_kernel(x.data<float>(), x.size(0), x.size(1), idx.data<int32_t>());
  } else {
    cpu::argmax_kernel(x.data<double>(), x.size(0), x.size(1), idx.data<int32_t>());
  }
}

void topk(const Tensor& x, int k, Tensor& values, Tensor& idx) {
  if (on_cuda("topk", {&x, &values, &idx})) {
    check_cuda_float(x, "topk", "topk", true);
    cpu::check_k(k, x.size(1), "topk");
    check_tensor(values, {x.size(0), k}, x.dtype(), "topk values");
    check_tensor(idx, {x.size(0), k}, DType::kI32, "topk idx");
#ifdef ATTNCAMP_WITH_CUDA
    cuda::topk(x.raw_data(), x.dtype(), x.size(0), x.size(1), k, values.raw_data(), idx.data<int32_t>(),
               x.device().index);
#endif
    return;
  }
  cpu::check_rows(x, "topk");
  cpu::check_k(k, x.size(1), "topk");
  check_tensor(values, {x.size(0), k}, x.dtype(), "topk values");
  check_tensor(idx, {x.size(0), k}, DType::kI32, "topk idx");
  if (x.dtype() == DType::kF32) {
    cpu::topk_kernel(x.data<float>(), x.size(0), x.size(1), k, values.data<float>(), idx.data<int32_t>());
  } else {
    cpu::topk_kernel(x.data<double>(), x.size(0), x.size(1), k, values.data<double>(), idx.data<int32_t>());
  }
}

int64_t count_topk_correct(const Tensor& logits, const Tensor& labels, int k) {
  if (on_cuda("count_topk_correct", {&logits, &labels})) {
    check_cuda_float(logits, "count_topk_correct", "count_topk_correct", true);
    cpu::check_k(k, logits.size(1), "count_topk_correct");
    check_tensor(labels, {logits.size(0)}, DType::kI32, "count_topk_correct labels");
#ifdef ATTNCAMP_WITH_CUDA
    return cuda::count_topk_correct(logits.raw_data(), logits.dtype(), logits.size(0), logits.size(1),
                                    labels.data<int32_t>(), k, logits.device().index);
#endif
  }
  cpu::check_rows(logits, "count_topk_correct");
  cpu::check_k(k, logits.size(1), "count_topk_correct");
  const int64_t n = logits.size(0), classes = logits.size(1);
  check_tensor(labels, {n}, DType::kI32, "count_topk_correct labels");
  const int32_t* lab = labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (lab[i] < -1 || lab[i] >= classes) {
      ATTNCAMP_THROW("label ", lab[i], " at index ", i, " is outside [0, ", classes, ") (-1 marks an ignored row)");
    }
  }
  if (logits.dtype() == DType::kF32) return cpu::count_topk_kernel(logits.data<float>(), n, classes, lab, k);
  return cpu::count_topk_kernel(logits.data<double>(), n, classes, lab, k);
}

}  // namespace attncamp::ops
