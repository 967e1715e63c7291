// CPU exact GELU. The f32 path uses branch-free approximations of erf (Eigen's rational
// approximation, clamped to [-4, 4]) and exp (Cephes polynomial with 2^n scaling) so the
// loops vectorise; the f64 path, used by the gradient tests, calls std::erf and std::exp.
// CUDA tensors go to ops/cuda/gelu.cu.
#include "ops/gelu.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/dispatch.h"

namespace attncamp::ops {
namespace cpu {
namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// Bit casts and |x| clamped to lim via an integer min: branch-free, so the compiler cannot
// split the loop on the clamp (a float compare there blocks vectorisation under trapping math).
inline uint32_t to_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof(b));
  return b;
}
inline float from_bits(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof(x));
  return x;
}
inline float abs_clamped(float x, float lim) { return from_bits(std::min(to_bits(x) & 0x7fffffffu, to_bits(lim))); }

// erf(x) for f32: odd rational approximation, accurate to float precision on [-4, 4]
// (erf is 1 to float precision beyond).
inline float erf_f32(float x) {
  const float a = abs_clamped(x, 4.0f);
  const float a2 = a * a;
  float p = -2.72614225801306e-10f;
  p = p * a2 + 2.77068142495902e-08f;
  p = p * a2 - 2.10102402082508e-06f;
  p = p * a2 - 5.69250639462346e-05f;
  p = p * a2 - 7.34990630326855e-04f;
  p = p * a2 - 2.95459980854025e-03f;
  p = p * a2 - 1.60960333262415e-02f;
  p = p * a;
  float q = -1.45660718464996e-05f;
  q = q * a2 - 2.13374055278905e-04f;
  q = q * a2 - 1.68282697438203e-03f;
  q = q * a2 - 7.37332916720468e-03f;
  q = q * a2 - 1.42647390514189e-02f;
  return from_bits(to_bits(p / q) | (to_bits(x) & 0x80000000u));
}

// exp(-x*x/2) for f32 (Cephes expf polynomial, 2^n scaling); |x| is clamped to 13, where
// the result (about 2e-37) is already negligible.
inline float exp_neg_half_sq_f32(float x) {
  const float a = abs_clamped(x, 13.0f);
  const float t = -0.5f * a * a;
  const float n = std::nearbyint(t * 1.44269504088896341f);
  const float r = (t - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * from_bits(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
}

inline float erf_t(float x) { return erf_f32(x); }
inline double erf_t(double x) { return std::erf(x); }
inline float exp_neg_half_sq(float x) { return exp_neg_half_sq_f32(x); }
inline double exp_neg_half_sq(double x) { return std::exp(-0.5 * x * x); }

}  // namespace

template <class T>
void gelu_forward(const T* x, T* y, int64_t n) {
  const T inv_sqrt2 = static_cast<T>(kInvSqrt2);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    y[i] = T(0.5) * v * (T(1) + erf_t(v * inv_sqrt2));
  }
}

template <class T>
void gelu_backward(const T* x, const T* dy, T* dx, int64_t n) {
  const T inv_sqrt2 = static_cast<T>(kInvSqrt2), inv_sqrt2pi = static_cast<T>(kInvSqrt2Pi);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    const T cdf = T(0.5) * (T(1) + erf_t(v * inv_sqrt2));
    const T pdf = inv_sqrt2pi * exp_neg_half_sq(v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

template void gelu_forward<float>(const float*, float*, int64_t);
template void gelu_forward<double>(const double*, double*, int64_t);
template void gelu_backward<float>(const float*, const float*, float*, int64_t);
template void gelu_backward<double>(const double*, const double*, double*, int64_t);

}  // namespace cpu

void gelu_forward(const Tensor& x, Tensor& y) {
  const char* op = "gelu_forward";
  const bool cuda = on_cuda(op, {&x, &y});
  check_arg(op, "x", x, activation_dtypes(cuda));
  check_activation_like(op, "y", y, x, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::gelu_forward(x.raw_data(), x.dtype(), y.raw_data(), y.dtype(), x.numel(), x.device().index);
#endif
    return;
  }
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::gelu_forward(x.data<T>(), y.data<T>(), x.numel());
  });
}

void gelu_backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  const char* op = "gelu_backward";
  const bool cuda = on_cuda(op, {&x, &dy, &dx});
  check_arg(op, "x", x, activation_dtypes(cuda));
  check_activation_like(op, "dy", dy, x, cuda);
  check_activation_like(op, "dx", dx, x, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::gelu_backward(x.raw_data(), x.dtype(), dy.raw_data(), dy.dtype(), dx.raw_data(), dx.dtype(), x.numel(),
                        x.device().index);
#endif
    return;
  }
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::gelu_backward(x.data<T>(), dy.data<T>(), dx.data<T>(), x.numel());
  });
}

}  // namespace attncamp::ops
