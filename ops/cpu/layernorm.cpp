// CPU layer norm and the tensor-level API (CUDA tensors go to ops/cuda/layernorm.cu). Forward:
// one row per iteration (OpenMP over rows), two-pass mean and variance in double. Backward: rows
// in fixed 32-row chunks; each chunk writes dx and its own double partial sums of dgamma/dbeta,
// which are then reduced in chunk order (deterministic). The residual form adds first, then runs
// the same kernels on the sum.
#include "ops/layernorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/dispatch.h"

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
      if (p.dx_add != nullptr) {
        const T* ar = p.dx_add + r * cols;
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) {
          const T xhat = (xr[c] - mean) * rstd;
          dxr[c] = rstd * (dyr[c] * p.gamma[c] - mg - xhat * mgx) + ar[c];
        }
      } else {
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) {
          const T xhat = (xr[c] - mean) * rstd;
          dxr[c] = rstd * (dyr[c] * p.gamma[c] - mg - xhat * mgx);
        }
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

template <class T>
void add_kernel(const T* a, const T* b, T* out, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

// layernorm_forward, or add_layernorm_forward when `residual` is set (then `sum_out` is too).
void forward_impl(const char* op, const Tensor& x, const Tensor* residual, const Tensor& gamma, const Tensor& beta,
                  double eps, Tensor* sum_out, Tensor& y, Tensor& mean, Tensor& rstd) {
  const bool cuda = on_cuda(op, {&x, residual, &gamma, &beta, sum_out, &y, &mean, &rstd});
  const Rows rc = check_rows(op, "x", x, activation_dtypes(cuda));
  const int64_t rows = rc.rows, cols = rc.cols;
  const DType act = x.dtype();
  if (residual != nullptr) {
    check_exact(op, "residual", *residual, x.shape(), act);
    check_exact(op, "sum_out", *sum_out, x.shape(), act);
  }
  check_param(op, "gamma", gamma, {cols}, act, cuda);
  check_param(op, "beta", beta, {cols}, act, cuda);
  check_exact(op, "y", y, x.shape(), act);
  check_param(op, "mean", mean, {rows}, act, cuda);
  check_param(op, "rstd", rstd, {rows}, act, cuda);
  ATTNCAMP_CHECK(eps >= 0, op, ": eps must be >= 0, got ", eps);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::LayerNormForwardArgs a;
    a.rows = rows;
    a.cols = cols;
    a.act = act;
    a.x = x.raw_data();
    a.residual = residual != nullptr ? residual->raw_data() : nullptr;
    a.sum_out = sum_out != nullptr ? sum_out->raw_data() : nullptr;
    a.gamma = gamma.data<float>();
    a.beta = beta.data<float>();
    a.y = y.raw_data();
    a.mean = mean.data<float>();
    a.rstd = rstd.data<float>();
    a.eps = static_cast<float>(eps);
    a.device = x.device().index;
    cuda::layernorm_forward(a);
#endif
    return;
  }
  const Tensor& src = residual != nullptr ? *sum_out : x;
  dispatch_float(act, op, [&](auto tag) {
    using T = decltype(tag);
    if (residual != nullptr) add_kernel(x.data<T>(), residual->data<T>(), sum_out->data<T>(), x.numel());
    cpu::layernorm_forward(make_params<T>(src, gamma, &beta, mean, rstd, rows, cols, eps), y.data<T>());
  });
}

// layernorm_backward; with `dx_add` defined (add_layernorm_backward) it is added to dx. `x_name`
// names x in errors ("x", or "sum_out" for the residual form).
void backward_impl(const char* op, const char* x_name, const Tensor& dy, const Tensor& x, const Tensor& dx_add,
                   const Tensor& gamma, const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dgamma,
                   Tensor& dbeta) {
  const bool cuda = on_cuda(op, {&dy, &x, &dx_add, &gamma, &mean, &rstd, &dx, &dgamma, &dbeta});
  const Rows rc = check_rows(op, x_name, x, activation_dtypes(cuda));
  const int64_t rows = rc.rows, cols = rc.cols;
  const DType act = x.dtype();
  check_exact(op, "dy", dy, x.shape(), act);
  if (dx_add.defined()) check_exact(op, "dsum_in", dx_add, x.shape(), act);
  check_param(op, "gamma", gamma, {cols}, act, cuda);
  check_param(op, "mean", mean, {rows}, act, cuda);
  check_param(op, "rstd", rstd, {rows}, act, cuda);
  check_exact(op, "dx", dx, x.shape(), act);
  check_param(op, "dgamma", dgamma, {cols}, act, cuda);
  check_param(op, "dbeta", dbeta, {cols}, act, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::LayerNormBackwardArgs a;
    a.rows = rows;
    a.cols = cols;
    a.act = act;
    a.dy = dy.raw_data();
    a.x = x.raw_data();
    a.dx_add = dx_add.defined() ? dx_add.raw_data() : nullptr;
    a.gamma = gamma.data<float>();
    a.mean = mean.data<float>();
    a.rstd = rstd.data<float>();
    a.dx = dx.raw_data();
    a.dgamma = dgamma.data<float>();
    a.dbeta = dbeta.data<float>();
    a.device = x.device().index;
    cuda::layernorm_backward(a);
#endif
    return;
  }
  dispatch_float(act, op, [&](auto tag) {
    using T = decltype(tag);
    auto p = make_params<T>(x, gamma, nullptr, mean, rstd, rows, cols, 0.0);
    p.dx_add = dx_add.defined() ? dx_add.data<T>() : nullptr;
    cpu::layernorm_backward(p, dy.data<T>(), dx.data<T>(), dgamma.data<T>(), dbeta.data<T>());
  });
}

}  // namespace

void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& y, Tensor& mean,
                       Tensor& rstd) {
  forward_impl("layernorm_forward", x, nullptr, gamma, beta, eps, nullptr, y, mean, rstd);
}

void add_layernorm_forward(const Tensor& x, const Tensor& residual, const Tensor& gamma, const Tensor& beta, double eps,
                           Tensor& sum_out, Tensor& y, Tensor& mean, Tensor& rstd) {
  forward_impl("add_layernorm_forward", x, &residual, gamma, beta, eps, &sum_out, y, mean, rstd);
}

void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  backward_impl("layernorm_backward", "x", dy, x, Tensor(), gamma, mean, rstd, dx, dgamma, dbeta);
}

void add_layernorm_backward(const Tensor& dy, const Tensor& dsum_in, const Tensor& sum_out, const Tensor& gamma,
                            const Tensor& mean, const Tensor& rstd, Tensor& dx_total, Tensor& dgamma, Tensor& dbeta) {
  backward_impl("add_layernorm_backward", "sum_out", dy, sum_out, dsum_in, gamma, mean, rstd, dx_total, dgamma, dbeta);
}

}  // namespace attncamp::ops
