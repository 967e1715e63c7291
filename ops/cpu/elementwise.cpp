// CPU element-wise kernels: flat OpenMP-parallel loops over contiguous arrays (vectorised
// by the compiler), and the tensor-level functions that check operands and dispatch on device
// (CUDA launchers in ops/cuda/elementwise.cu) and dtype.
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

namespace {

// Checks `t` against the reference operand `ref` (same shape and dtype), or, when `ref` is
// null, that `t` itself is a usable f32/f64 CPU tensor.
void check_arg(const Tensor& t, const Tensor* ref, const char* op, const char* what) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  if (!t.device().is_cpu()) ATTNCAMP_THROW("op ", op, " is not implemented on ", t.device().str(), " yet");
  ATTNCAMP_CHECK(t.dtype() == DType::kF32 || t.dtype() == DType::kF64, op, ": ", what, " has dtype ",
                 dtype_name(t.dtype()), "; expected f32 or f64");
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
  if (ref) {
    ATTNCAMP_CHECK(t.shape() == ref->shape(), op, ": ", what, " has shape ", shape_str(t.shape()), ", expected ",
                   shape_str(ref->shape()));
    ATTNCAMP_CHECK(t.dtype() == ref->dtype(), op, ": ", what, " is ", dtype_name(t.dtype()), ", expected ",
                   dtype_name(ref->dtype()));
  }
}

}  // namespace

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  if (on_cuda("add", {&a, &b, &out})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_arg(a, nullptr, "add", "a");
    check_cuda_arg(b, &a, "add", "b");
    check_cuda_arg(out, &a, "add", "out");
    cuda::add(a.raw_data(), a.dtype(), b.raw_data(), b.dtype(), out.raw_data(), out.dtype(), a.numel(),
              a.device().index);
#endif
    return;
  }
  check_arg(a, nullptr, "add", "a");
  check_arg(b, &a, "add", "b");
  check_arg(out, &a, "add", "out");
  if (a.dtype() == DType::kF32) {
    cpu::add(a.data<float>(), b.data<float>(), out.data<float>(), a.numel());
  } else {
    cpu::add(a.data<double>(), b.data<double>(), out.data<double>(), a.numel());
  }
}

void add_(Tensor& y, const Tensor& x) {
  if (on_cuda("add_", {&y, &x})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_arg(y, nullptr, "add_", "y");
    check_cuda_arg(x, &y, "add_", "x");
    cuda::add_inplace(y.raw_data(), y.dtype(), x.raw_data(), x.dtype(), y.numel(), y.device().index);
#endif
    return;
  }
  check_arg(y, nullptr, "add_", "y");
  check_arg(x, &y, "add_", "x");
  if (y.dtype() == DType::kF32) {
    cpu::add_inplace(y.data<float>(), x.data<float>(), y.numel());
  } else {
    cpu::add_inplace(y.data<double>(), x.data<double>(), y.numel());
  }
}

void scale_(Tensor& y, double s) {
  if (on_cuda("scale_", {&y})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_arg(y, nullptr, "scale_", "y");
    cuda::scale_inplace(y.raw_data(), y.dtype(), static_cast<float>(s), y.numel(), y.device().index);
#endif
    return;
  }
  check_arg(y, nullptr, "scale_", "y");
  if (y.dtype() == DType::kF32) {
    cpu::scale_inplace(y.data<float>(), static_cast<float>(s), y.numel());
  } else {
    cpu::scale_inplace(y.data<double>(), s, y.numel());
  }
}

void tanh_forward(const Tensor& x, Tensor& y) {
  if (on_cuda("tanh_forward", {&x, &y})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_arg(x, nullptr, "tanh_forward", "x");
    check_cuda_arg(y, &x, "tanh_forward", "y");
    cuda::tanh_forward(x.raw_data(), x.dtype(), y.raw_data(), y.dtype(), x.numel(), x.device().index);
#endif
    return;
  }
  check_arg(x, nullptr, "tanh_forward", "x");
  check_arg(y, &x, "tanh_forward", "y");
  if (x.dtype() == DType::kF32) {
    cpu::tanh_forward(x.data<float>(), y.data<float>(), x.numel());
  } else {
    cpu::tanh_forward(x.data<double>(), y.data<double>(), x.numel());
  }
}

void tanh_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  if (on_cuda("tanh_backward", {&y, &dy, &dx})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_arg(y, nullptr, "tanh_backward", "y");
    check_cuda_arg(dy, &y, "tanh_backward", "dy");
    check_cuda_arg(dx, &y, "tanh_backward", "dx");
    cuda::tanh_backward(y.raw_data(), y.dtype(), dy.raw_data(), dy.dtype(), dx.raw_data(), dx.dtype(), y.numel(),
                        y.device().index);
#endif
    return;
  }
  check_arg(y, nullptr, "tanh_backward", "y");
  check_arg(dy, &y, "tanh_backward", "dy");
  check_arg(dx, &y, "tanh_backward", "dx");
  if (y.dtype() == DType::kF32) {
    cpu::tanh_backward(y.data<float>(), dy.data<float>(), dx.data<float>(), y.numel());
  } else {
    cpu::tanh_backward(y.data<double>(), dy.data<double>(), dx.data<double>(), y.numel());
  }
}

}  // namespace attncamp::ops
