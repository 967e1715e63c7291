// CPU element-wise kernels: flat OpenMP-parallel loops over contiguous arrays (vectorised
// by the compiler), and the tensor-level functions that check operands (ops/check.h) and dispatch
// on device (CUDA launchers in ops/cuda/elementwise.cu) and dtype (ops/dispatch.h).
#include "ops/elementwise.h"

#include <cmath>

#include "ops/dispatch.h"

namespace attncamp::ops {
namespace cpu {

template <class T>
void add(const T* a, const T* b, T* out, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <class T>
void add_inplace(T* y, const T* x, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

template <class T>
void scale_inplace(T* y, T s, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] *= s;
}

template <class T>
void tanh_forward(const T* x, T* y, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

template <class T>
void tanh_backward(const T* y, const T* dy, T* dx, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
}

#define ATTNCAMP_INSTANTIATE(T)                          \
  template void add<T>(const T*, const T*, T*, int64_t); \
  template void add_inplace<T>(T*, const T*, int64_t);   \
  template void scale_inplace<T>(T*, T, int64_t);        \
  template void tanh_forward<T>(const T*, T*, int64_t);  \
  template void tanh_backward<T>(const T*, const T*, T*, int64_t);
ATTNCAMP_INSTANTIATE(float)
ATTNCAMP_INSTANTIATE(double)
#undef ATTNCAMP_INSTANTIATE

}  // namespace cpu

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  const char* op = "add";
  const bool cuda = on_cuda(op, {&a, &b, &out});
  check_arg(op, "a", a, activation_dtypes(cuda));
  check_activation_like(op, "b", b, a, cuda);
  check_activation_like(op, "out", out, a, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::add(a.raw_data(), a.dtype(), b.raw_data(), b.dtype(), out.raw_data(), out.dtype(), a.numel(),
              a.device().index);
#endif
    return;
  }
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::add(a.data<T>(), b.data<T>(), out.data<T>(), a.numel());
  });
}

void add_(Tensor& y, const Tensor& x) {
  const char* op = "add_";
  const bool cuda = on_cuda(op, {&y, &x});
  check_arg(op, "y", y, activation_dtypes(cuda));
  check_activation_like(op, "x", x, y, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::add_inplace(y.raw_data(), y.dtype(), x.raw_data(), x.dtype(), y.numel(), y.device().index);
#endif
    return;
  }
  dispatch_float(y.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::add_inplace(y.data<T>(), x.data<T>(), y.numel());
  });
}

void scale_(Tensor& y, double s) {
  const char* op = "scale_";
  const bool cuda = on_cuda(op, {&y});
  check_arg(op, "y", y, activation_dtypes(cuda));
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::scale_inplace(y.raw_data(), y.dtype(), static_cast<float>(s), y.numel(), y.device().index);
#endif
    return;
  }
  dispatch_float(y.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::scale_inplace(y.data<T>(), static_cast<T>(s), y.numel());
  });
}

void tanh_forward(const Tensor& x, Tensor& y) {
  const char* op = "tanh_forward";
  const bool cuda = on_cuda(op, {&x, &y});
  check_arg(op, "x", x, activation_dtypes(cuda));
  check_activation_like(op, "y", y, x, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::tanh_forward(x.raw_data(), x.dtype(), y.raw_data(), y.dtype(), x.numel(), x.device().index);
#endif
    return;
  }
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::tanh_forward(x.data<T>(), y.data<T>(), x.numel());
  });
}

void tanh_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  const char* op = "tanh_backward";
  const bool cuda = on_cuda(op, {&y, &dy, &dx});
  check_arg(op, "y", y, activation_dtypes(cuda));
  check_activation_like(op, "dy", dy, y, cuda);
  check_activation_like(op, "dx", dx, y, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::tanh_backward(y.raw_data(), y.dtype(), dy.raw_data(), dy.dtype(), dx.raw_data(), dx.dtype(), y.numel(),
                        y.device().index);
#endif
    return;
  }
  dispatch_float(y.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::tanh_backward(y.data<T>(), dy.data<T>(), dx.data<T>(), y.numel());
  });
}

}  // namespace attncamp::ops
