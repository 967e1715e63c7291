// CPU bias add and column sums. Forward is a row-parallel broadcast add; backward sums
// columns over fixed 64-row chunks into double partials, then reduces them in chunk order,
// so results do not depend on the number of OpenMP threads. CUDA tensors go to
// ops/cuda/bias_add.cu.
#include "ops/bias_add.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/dispatch.h"

namespace attncamp::ops {
namespace cpu {

template <class T>
void bias_add_forward(T* y, const T* b, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    T* row = y + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) row[c] += b[c];
  }
}

template <class T>
void bias_fill(T* y, const T* b, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) std::memcpy(y + r * cols, b, static_cast<size_t>(cols) * sizeof(T));
}

template <class T>
void column_sum_accumulate(const T* x, int64_t rows, int64_t cols, T* out) {
  constexpr int64_t kChunk = 64;
  const int64_t chunks = (rows + kChunk - 1) / kChunk;
  if (chunks == 0 || cols == 0) return;
  std::vector<double> partial(static_cast<size_t>(chunks * cols), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    double* acc = partial.data() + ch * cols;
    const int64_t end = std::min(rows, (ch + 1) * kChunk);
    for (int64_t r = ch * kChunk; r < end; ++r) {
      const T* row = x + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) acc[c] += static_cast<double>(row[c]);
    }
  }
  for (int64_t ch = 1; ch < chunks; ++ch) {
    const double* acc = partial.data() + ch * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) partial[c] += acc[c];
  }
  for (int64_t c = 0; c < cols; ++c) out[c] = static_cast<T>(static_cast<double>(out[c]) + partial[c]);
}

template void bias_add_forward<float>(float*, const float*, int64_t, int64_t);
template void bias_add_forward<double>(double*, const double*, int64_t, int64_t);
template void bias_fill<float>(float*, const float*, int64_t, int64_t);
template void bias_fill<double>(double*, const double*, int64_t, int64_t);
template void column_sum_accumulate<float>(const float*, int64_t, int64_t, float*);
template void column_sum_accumulate<double>(const double*, int64_t, int64_t, double*);

}  // namespace cpu

namespace {

// Checks y (or dy) [..., C] and the bias (or its gradient) [C] of one call; returns y's rows.
Rows check_bias_args(const char* op, const char* what, const Tensor& t, const char* vwhat, const Tensor& v, bool cuda) {
  const Rows r = check_rows(op, what, t, activation_dtypes(cuda));
  check_param(op, vwhat, v, {r.cols}, t.dtype(), cuda);
  return r;
}

}  // namespace

void bias_add_forward(Tensor& y, const Tensor& b) {
  const char* op = "bias_add_forward";
  const bool cuda = on_cuda(op, {&y, &b});
  const Rows r = check_bias_args(op, "y", y, "b", b, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::bias_add_forward(y.raw_data(), y.dtype(), b.data<float>(), r.rows, r.cols, y.device().index);
#endif
    return;
  }
  dispatch_float(y.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::bias_add_forward(y.data<T>(), b.data<T>(), r.rows, r.cols);
  });
}

void bias_fill(Tensor& y, const Tensor& b) {
  const char* op = "bias_fill";
  const bool cuda = on_cuda(op, {&y, &b});
  const Rows r = check_bias_args(op, "y", y, "b", b, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::bias_fill(y.raw_data(), y.dtype(), b.data<float>(), r.rows, r.cols, y.device().index);
#endif
    return;
  }
  dispatch_float(y.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::bias_fill(y.data<T>(), b.data<T>(), r.rows, r.cols);
  });
}

void bias_add_backward(const Tensor& dy, Tensor& db) {
  const char* op = "bias_add_backward";
  const bool cuda = on_cuda(op, {&dy, &db});
  const Rows r = check_bias_args(op, "dy", dy, "db", db, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::column_sum_accumulate(dy.raw_data(), dy.dtype(), r.rows, r.cols, db.data<float>(), dy.device().index);
#endif
    return;
  }
  dispatch_float(dy.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::column_sum_accumulate(dy.data<T>(), r.rows, r.cols, db.data<T>());
  });
}

}  // namespace attncamp::ops
