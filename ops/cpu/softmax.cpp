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

void softmax_forward(const Tensor& x, Tensor& y) {
  const char* op = "softmax_forward";
  const bool cuda = on_cuda(op, {&x, &y});
  const Rows r = check_rows(op, "x", x, activation_dtypes(cuda));
  check_activation_like(op, "y", y, x, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::softmax_forward(x.raw_data(), x.dtype(), y.raw_data(), y.dtype(), r.rows, r.cols, x.device().index);
#endif
    return;
  }
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::softmax_forward(x.data<T>(), y.data<T>(), r.rows, r.cols);
  });
}

void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  const char* op = "softmax_backward";
  const bool cuda = on_cuda(op, {&y, &dy, &dx});
  const Rows r = check_rows(op, "y", y, activation_dtypes(cuda));
  check_activation_like(op, "dy", dy, y, cuda);
  check_activation_like(op, "dx", dx, y, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::softmax_backward(y.raw_data(), y.dtype(), dy.raw_data(), dy.dtype(), dx.raw_data(), dx.dtype(), r.rows,
                           r.cols, y.device().index);
#endif
    return;
  }
  dispatch_float(y.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::softmax_backward(y.data<T>(), dy.data<T>(), dx.data<T>(), r.rows, r.cols);
  });
}

}  // namespace attncamp::ops
