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

// Checks that `t` is a defined, contiguous f32/f64 CPU tensor whose last dimension is `cols`.
void check_rows(const Tensor& t, const char* op, const char* what) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  if (!t.device().is_cpu()) ATTNCAMP_THROW("op ", op, " is not implemented on ", t.device().str(), " yet");
  ATTNCAMP_CHECK(t.dtype() == DType::kF32 || t.dtype() == DType::kF64, op, ": ", what, " has dtype ",
                 dtype_name(t.dtype()), "; expected f32 or f64");
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
  ATTNCAMP_CHECK(t.dim() >= 1, op, ": ", what, " must have at least one dimension");
}

// check_tensor plus the device check, for the bias (gradient) vector.
void check_vec(const Tensor& t, int64_t cols, DType dtype, const char* op, const char* what) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  if (!t.device().is_cpu()) ATTNCAMP_THROW("op ", op, " is not implemented on ", t.device().str(), " yet");
  check_tensor(t, {cols}, dtype, what);
}

#ifdef ATTNCAMP_WITH_CUDA
// CUDA operands: the activation `t` ([..., C], f32/bf16/f16) and the f32 parameter vector `v`
// [C]; returns the number of rows of `t`.
int64_t check_cuda_args(const Tensor& t, const Tensor& v, const char* op, const char* what, const char* vwhat) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  check_cuda_activation(op, what, t);
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
  ATTNCAMP_CHECK(t.dim() >= 1, op, ": ", what, " must have at least one dimension");
  const int64_t cols = t.size(-1);
  ATTNCAMP_CHECK(v.defined() && v.is_contiguous() && v.shape() == Shape{cols} && v.dtype() == DType::kF32, op, ": ",
                 vwhat, " must be a contiguous f32 [", cols, "] on CUDA (a parameter), got ", shape_str(v.shape()), " ",
                 dtype_name(v.dtype()));
  return cols == 0 ? 0 : t.numel() / cols;
}
#endif

}  // namespace

void bias_add_forward(Tensor& y, const Tensor& b) {
  if (on_cuda("bias_add_forward", {&y, &b})) {
#ifdef ATTNCAMP_WITH_CUDA
    const int64_t rows = check_cuda_args(y, b, "bias_add_forward", "y", "b");
    cuda::bias_add_forward(y.raw_data(), y.dtype(), b.data<float>(), rows, y.size(-1), y.device().index);
#endif
    return;
  }
  check_rows(y, "bias_add_forward", "y");
  const int64_t cols = y.size(-1);
  check_vec(b, cols, y.dtype(), "bias_add_forward", "b");
  const int64_t rows = cols == 0 ? 0 : y.numel() / cols;
  if (y.dtype() == DType::kF32) {
    cpu::bias_add_forward(y.data<float>(), b.data<float>(), rows, cols);
  } else {
    cpu::bias_add_forward(y.data<double>(), b.data<double>(), rows, cols);
  }
}

void bias_fill(Tensor& y, const Tensor& b) {
  if (on_cuda("bias_fill", {&y, &b})) {
#ifdef ATTNCAMP_WITH_CUDA
    const int64_t rows = check_cuda_args(y, b, "bias_fill", "y", "b");
    cuda::bias_fill(y.raw_data(), y.dtype(), b.data<float>(), rows, y.size(-1), y.device().index);
#endif
    return;
  }
  check_rows(y, "bias_fill", "y");
  const int64_t cols = y.size(-1);
  check_vec(b, cols, y.dtype(), "bias_fill", "b");
  const int64_t rows = cols == 0 ? 0 : y.numel() / cols;
  if (y.dtype() == DType::kF32) {
    cpu::bias_fill(y.data<float>(), b.data<float>(), rows, cols);
  } else {
    cpu::bias_fill(y.data<double>(), b.data<double>(), rows, cols);
  }
}

void bias_add_backward(const Tensor& dy, Tensor& db) {
  if (on_cuda("bias_add_backward", {&dy, &db})) {
#ifdef ATTNCAMP_WITH_CUDA
    const int64_t rows = check_cuda_args(dy, db, "bias_add_backward", "dy", "db");
    cuda::column_sum_accumulate(dy.raw_data(), dy.dtype(), rows, dy.size(-1), db.data<float>(), dy.device().index);
#endif
    return;
  }
  check_rows(dy, "bias_add_backward", "dy");
  const int64_t cols = dy.size(-1);
  check_vec(db, cols, dy.dtype(), "bias_add_backward", "db");
  const int64_t rows = cols == 0 ? 0 : dy.numel() / cols;
  if (dy.dtype() == DType::kF32) {
    cpu::column_sum_accumulate(dy.data<float>(), rows, cols, db.data<float>());
  } else {
    cpu::column_sum_accumulate(dy.data<double>(), rows, cols, db.data<double>());
  }
}

}  // namespace attncamp::ops
