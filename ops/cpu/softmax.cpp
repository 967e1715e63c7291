// CPU softmax over rows: OpenMP over rows; per row a max pass, an exp pass that also sums
// (in double), then a scaling pass. The backward pass is a dot product and an update per row.
// CUDA tensors go to ops/cuda/softmax.cu.
#include "ops/softmax.h"

#include <cmath>

#include "ops/dispatch.h"

namespace attncamp::ops {
namespace cpu {

template <class T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T mx = -INFINITY;
    for (int64_t c = 0; c < cols; ++c) mx = xr[c] > mx ? xr[c] : mx;
    // A row of -inf (fully masked) gives zeros instead of NaN.
    if (mx == -INFINITY) mx = 0;
    double sum = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const T e = std::exp(xr[c] - mx);
      yr[c] = e;
      sum += static_cast<double>(e);
    }
    const T inv = sum > 0 ? static_cast<T>(1.0 / sum) : T(0);
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
  }
}

template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * cols;
    const T* dyr = dy + r * cols;
    T* dxr = dx + r * cols;
    double dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t c = 0; c < cols; ++c) dot += static_cast<double>(yr[c] * dyr[c]);
    const T d = static_cast<T>(dot);
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) dxr[c] = yr[c] * (dyr[c] - d);
  }
}

template void softmax_forward<float>(const float*, float*, int64_t, int64_t);
template void softmax_forward<double>(const double*, double*, int64_t, int64_t);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t);
template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t);

}  // namespace cpu

namespace {

void check_arg(const Tensor& t, const Tensor* ref, const char* op, const char* what) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  if (!t.device().is_cpu()) ATTNCAMP_THROW("op ", op, " is not implemented on ", t.device().str(), " yet");
  ATTNCAMP_CHECK(t.dtype() == DType::kF32 || t.dtype() == DType::kF64, op, ": ", what, " has dtype ",
                 dtype_name(t.dtype()), "; expected f32 or f64");
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
  ATTNCAMP_CHECK(t.dim() >= 1, op, ": ", what, " must be [..., C]");
  if (ref) {
    ATTNCAMP_CHECK(t.shape() == ref->shape(), op, ": ", what, " has shape ", shape_str(t.shape()), ", expected ",
                   shape_str(ref->shape()));
    ATTNCAMP_CHECK(t.dtype() == ref->dtype(), op, ": ", what, " is ", dtype_name(t.dtype()), ", expected ",
                   dtype_name(ref->dtype()));
  }
}

#ifdef ATTNCAMP_WITH_CUDA
// CUDA operands: defined, contiguous [..., C], an activation dtype each, the shape of `ref` (if given).
void check_cuda_row_arg(const Tensor& t, const Tensor* ref, const char* op, const char* what) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  check_cuda_activation(op, what, t);
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
  ATTNCAMP_CHECK(t.dim() >= 1, op, ": ", what, " must be [..., C]");
  if (ref) {
    ATTNCAMP_CHECK(t.shape() == ref->shape(), op, ": ", what, " has shape ", shape_str(t.shape()), ", expected ",
                   shape_str(ref->shape()));
  }
}
#endif

}  // namespace

void softmax_forward(const Tensor& x, Tensor& y) {
  if (on_cuda("softmax_forward", {&x, &y})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_row_arg(x, nullptr, "softmax_forward", "x");
    check_cuda_row_arg(y, &x, "softmax_forward", "y");
    const int64_t cols = x.size(-1), rows = cols == 0 ? 0 : x.numel() / cols;
    cuda::softmax_forward(x.raw_data(), x.dtype(), y.raw_data(), y.dtype(), rows, cols, x.device().index);
#endif
    return;
  }
  check_arg(x, nullptr, "softmax_forward", "x");
  check_arg(y, &x, "softmax_forward", "y");
  const int64_t cols = x.size(-1), rows = cols == 0 ? 0 : x.numel() / cols;
  if (x.dtype() == DType::kF32) {
    cpu::softmax_forward(x.data<float>(), y.data<float>(), rows, cols);
  } else {
    cpu::softmax_forward(x.data<double>(), y.data<double>(), rows, cols);
  }
}

void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  if (on_cuda("softmax_backward", {&y, &dy, &dx})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_row_arg(y, nullptr, "softmax_backward", "y");
    check_cuda_row_arg(dy, &y, "softmax_backward", "dy");
    check_cuda_row_arg(dx, &y, "softmax_backward", "dx");
    const int64_t cols = y.size(-1), rows = cols == 0 ? 0 : y.numel() / cols;
    cuda::softmax_backward(y.raw_data(), y.dtype(), dy.raw_data(), dy.dtype(), dx.raw_data(), dx.dtype(), rows, cols,
                           y.device().index);
#endif
    return;
  }
  check_arg(y, nullptr, "softmax_backward", "y");
  check_arg(dy, &y, "softmax_backward", "dy");
  check_arg(dx, &y, "softmax_backward", "dx");
  const int64_t cols = y.size(-1), rows = cols == 0 ? 0 : y.numel() / cols;
  if (y.dtype() == DType::kF32) {
    cpu::softmax_backward(y.data<float>(), dy.data<float>(), dx.data<float>(), rows, cols);
  } else {
    cpu::softmax_backward(y.data<double>(), dy.data<double>(), dx.data<double>(), rows, cols);
  }
}

}  // namespace attncamp::ops
