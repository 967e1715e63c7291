// CPU layer norm. Forward: one row per iteration (OpenMP over rows), two-pass mean and
// variance in double. Backward: rows in fixed 32-row chunks; each chunk writes dx and its own
// double partial sums of dgamma/dbeta, which are then reduced in chunk order (deterministic).
#include "ops/layernorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace attncamp::ops {
namespace cpu {

template <class T>
void layernorm_forward(const LayerNormParams<T>& p, T* y) {
  const int64_t cols = p.cols;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < p.rows; ++r) {
    const T* xr = p.x + r * cols;
    T* yr = y + r * cols;
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < cols; ++c) sum += static_cast<double>(xr[c]);
    const double mean = cols > 0 ? sum / static_cast<double>(cols) : 0.0;
    double sq = 0;
#pragma omp simd reduction(+ : sq)
    for (int64_t c = 0; c < cols; ++c) {
      const double d = static_cast<double>(xr[c]) - mean;
      sq += d * d;
    }
    const double rstd = 1.0 / std::sqrt((cols > 0 ? sq / static_cast<double>(cols) : 0.0) + p.eps);
    p.mean[r] = static_cast<T>(mean);
    p.rstd[r] = static_cast<T>(rstd);
    const T mean_t = static_cast<T>(mean), rstd_t = static_cast<T>(rstd);
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - mean_t) * rstd_t * p.gamma[c] + p.beta[c];
  }
}

template <class T>
void layernorm_backward(const LayerNormParams<T>& p, const T* dy, T* dx, T* dgamma, T* dbeta) {
  constexpr int64_t kChunk = 32;
  const int64_t cols = p.cols;
  const int64_t chunks = (p.rows + kChunk - 1) / kChunk;
  if (chunks == 0 || cols == 0) return;
  // partial[ch] holds dgamma (cols values) then dbeta (cols values) for chunk ch.
  std::vector<double> partial(static_cast<size_t>(chunks * 2 * cols), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    double* pg = partial.data() + ch * 2 * cols;
    double* pb = pg + cols;
    const int64_t end = std::min(p.rows, (ch + 1) * kChunk);
    for (int64_t r = ch * kChunk; r < end; ++r) {
      const T* xr = p.x + r * cols;
      const T* dyr = dy + r * cols;
      T* dxr = dx + r * cols;
      const T mean = p.mean[r], rstd = p.rstd[r];
      // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma.
      double sum_g = 0, sum_gx = 0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
      for (int64_t c = 0; c < cols; ++c) {
        const T xhat = (xr[c] - mean) * rstd;
        const T g = dyr[c] * p.gamma[c];
        sum_g += static_cast<double>(g);
        sum_gx += static_cast<double>(g * xhat);
        pg[c] += static_cast<double>(dyr[c] * xhat);
        pb[c] += static_cast<double>(dyr[c]);
      }
      const T mg = static_cast<T>(sum_g / static_cast<double>(cols));
      const T mgx = static_cast<T>(sum_gx / static_cast<double>(cols));
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) {
        const T xhat = (xr[c] - mean) * rstd;
        dxr[c] = rstd * (dyr[c] * p.gamma[c] - mg - xhat * mgx);
      }
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < 2 * cols; ++c) {
    double s = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) s += partial[ch * 2 * cols + c];
    T* out = c < cols ? dgamma + c : dbeta + (c - cols);
    *out = static_cast<T>(static_cast<double>(*out) + s);
  }
}

template void layernorm_forward<float>(const LayerNormParams<float>&, float*);
template void layernorm_forward<double>(const LayerNormParams<double>&, double*);
template void layernorm_backward<float>(const LayerNormParams<float>&, const float*, float*, float*, float*);
template void layernorm_backward<double>(const LayerNormParams<double>&, const double*, double*, double*, double*);

}  // namespace cpu

namespace {

// Checks that `t` is a contiguous CPU tensor of exactly `shape` and `dtype`.
void check_arg(const Tensor& t, const Shape& shape, DType dtype, const char* op, const char* what) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  if (!t.device().is_cpu()) ATTNCAMP_THROW("op ", op, " is not implemented on ", t.device().str(), " yet");
  ATTNCAMP_CHECK(t.shape() == shape, op, ": ", what, " has shape ", shape_str(t.shape()), ", expected ",
                 shape_str(shape));
  ATTNCAMP_CHECK(t.dtype() == dtype, op, ": ", what, " is ", dtype_name(t.dtype()), ", expected ", dtype_name(dtype));
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
}

// Checks x (f32/f64, at least 1-D) and returns the row count N and width C.
void check_input(const Tensor& x, const char* op, int64_t& rows, int64_t& cols) {
  ATTNCAMP_CHECK(x.defined(), op, ": x is undefined");
  ATTNCAMP_CHECK(x.dtype() == DType::kF32 || x.dtype() == DType::kF64, op, ": x has dtype ", dtype_name(x.dtype()),
                 "; expected f32 or f64");
  ATTNCAMP_CHECK(x.dim() >= 1, op, ": x must be [..., C], got a scalar");
  check_arg(x, x.shape(), x.dtype(), op, "x");
  cols = x.size(-1);
  rows = cols == 0 ? 0 : x.numel() / cols;
}

template <class T>
cpu::LayerNormParams<T> make_params(const Tensor& x, const Tensor& gamma, const Tensor* beta, const Tensor& mean,
                                    const Tensor& rstd, int64_t rows, int64_t cols, double eps) {
  cpu::LayerNormParams<T> p;
  p.rows = rows;
  p.cols = cols;
  p.x = x.data<T>();
  p.gamma = gamma.data<T>();
  p.beta = beta ? beta->data<T>() : nullptr;
  p.mean = mean.data<T>();
  p.rstd = rstd.data<T>();
  p.eps = eps;
  return p;
}

}  // namespace

void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& y, Tensor& mean,
                       Tensor& rstd) {
  const char* op = "layernorm_forward";
  int64_t rows = 0, cols = 0;
  check_input(x, op, rows, cols);
  const DType dt = x.dtype();
  check_arg(gamma, {cols}, dt, op, "gamma");
  check_arg(beta, {cols}, dt, op, "beta");
  check_arg(y, x.shape(), dt, op, "y");
  check_arg(mean, {rows}, dt, op, "mean");
  check_arg(rstd, {rows}, dt, op, "rstd");
  ATTNCAMP_CHECK(eps >= 0, op, ": eps must be >= 0, got ", eps);
  if (dt == DType::kF32) {
    cpu::layernorm_forward(make_params<float>(x, gamma, &beta, mean, rstd, rows, cols, eps), y.data<float>());
  } else {
    cpu::layernorm_forward(make_params<double>(x, gamma, &beta, mean, rstd, rows, cols, eps), y.data<double>());
  }
}

void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const char* op = "layernorm_backward";
  int64_t rows = 0, cols = 0;
  check_input(x, op, rows, cols);
  const DType dt = x.dtype();
  check_arg(dy, x.shape(), dt, op, "dy");
  check_arg(gamma, {cols}, dt, op, "gamma");
  check_arg(mean, {rows}, dt, op, "mean");
  check_arg(rstd, {rows}, dt, op, "rstd");
  check_arg(dx, x.shape(), dt, op, "dx");
  check_arg(dgamma, {cols}, dt, op, "dgamma");
  check_arg(dbeta, {cols}, dt, op, "dbeta");
  if (dt == DType::kF32) {
    cpu::layernorm_backward(make_params<float>(x, gamma, nullptr, mean, rstd, rows, cols, 0.0), dy.data<float>(),
                            dx.data<float>(), dgamma.data<float>(), dbeta.data<float>());
  } else {
    cpu::layernorm_backward(make_params<double>(x, gamma, nullptr, mean, rstd, rows, cols, 0.0), dy.data<double>(),
                            dx.data<double>(), dgamma.data<double>(), dbeta.data<double>());
  }
}

}  // namespace attncamp::ops
