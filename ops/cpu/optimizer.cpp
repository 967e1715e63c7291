// CPU optimizer steps: one elementwise pass over the flat buffers, parallel with a static
// schedule (each element's update depends only on that element, so results are thread-count
// independent). Coefficients are computed once in double and applied in the buffer's dtype.
#include "ops/optimizer.h"

#include <cmath>
#include <initializer_list>
#include <utility>

namespace attncamp::ops::cpu {
namespace {

template <typename T>
struct AdamWKernelParams {
  T* params = nullptr;
  const T* grads = nullptr;
  T* m = nullptr;
  T* v = nullptr;
  const uint8_t* wd_mask = nullptr;  // nullptr: decay every element
  int64_t n = 0;
  T decay = 1, beta1 = 0, beta2 = 0, eps = 0, step_size = 0, bias2_sqrt = 1;
};

template <typename T>
void adamw_kernel(const AdamWKernelParams<T>& p) {
  const T one_minus_b1 = T(1) - p.beta1, one_minus_b2 = T(1) - p.beta2;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const T keep = p.wd_mask == nullptr || p.wd_mask[i] != 0 ? p.decay : T(1);
    const T g = p.grads[i];
    const T m = p.beta1 * p.m[i] + one_minus_b1 * g;
    const T v = p.beta2 * p.v[i] + one_minus_b2 * g * g;
    p.m[i] = m;
    p.v[i] = v;
    const T denom = std::sqrt(v) / p.bias2_sqrt + p.eps;
    p.params[i] = p.params[i] * keep - p.step_size * (m / denom);
  }
}

template <typename T>
struct SgdKernelParams {
  T* params = nullptr;
  const T* grads = nullptr;
  T* buf = nullptr;  // nullptr when momentum == 0
  const uint8_t* wd_mask = nullptr;
  int64_t n = 0;
  T lr = 0, momentum = 0, weight_decay = 0;
  bool nesterov = false, first_step = false;
};

template <typename T>
void sgd_kernel(const SgdKernelParams<T>& p) {
  const bool use_momentum = p.buf != nullptr;
  const T mom_old = p.first_step ? T(0) : p.momentum;  // buf = mom_old * buf + g
  const T nest = p.nesterov ? p.momentum : T(0);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const T wd = p.wd_mask == nullptr || p.wd_mask[i] != 0 ? p.weight_decay : T(0);
    T g = p.grads[i] + wd * p.params[i];
    if (use_momentum) {
      const T b = p.first_step ? g : mom_old * p.buf[i] + g;
      p.buf[i] = b;
      g = p.nesterov ? g + nest * b : b;
    }
    p.params[i] = p.params[i] - p.lr * g;
  }
}

void check_buffers(const char* op, const Tensor& params,
                   std::initializer_list<std::pair<const Tensor*, const char*>> same, const Tensor& wd_mask) {
  ATTNCAMP_CHECK(params.defined(), op, ": params is undefined");
  if (!params.device().is_cpu()) ATTNCAMP_THROW("op ", op, " is not implemented on ", params.device().str(), " yet");
  ATTNCAMP_CHECK(params.dtype() == DType::kF32 || params.dtype() == DType::kF64, op,
                 ": params must be f32 or f64, got ", dtype_name(params.dtype()));
  check_tensor(params, params.shape(), params.dtype(), "optimizer params");
  for (const auto& [t, what] : same) {
    if (t->defined() && !t->device().is_cpu()) {
      ATTNCAMP_THROW("op ", op, " is not implemented on ", t->device().str(), " yet");
    }
    check_tensor(*t, params.shape(), params.dtype(), what);
  }
  if (wd_mask.defined()) check_tensor(wd_mask, params.shape(), DType::kU8, "optimizer wd_mask");
}

template <typename T>
void run_adamw(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const Tensor& wd_mask, const AdamWParams& a) {
  AdamWKernelParams<T> p;
  p.params = params.data<T>();
  p.grads = grads.data<T>();
  p.m = m.data<T>();
  p.v = v.data<T>();
  p.wd_mask = wd_mask.defined() ? wd_mask.data<uint8_t>() : nullptr;
  p.n = params.numel();
  const double t = static_cast<double>(a.step);
  p.decay = static_cast<T>(1.0 - a.lr * a.weight_decay);
  p.beta1 = static_cast<T>(a.beta1);
  p.beta2 = static_cast<T>(a.beta2);
  p.eps = static_cast<T>(a.eps);
  p.step_size = static_cast<T>(a.lr / (1.0 - std::pow(a.beta1, t)));
  p.bias2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(a.beta2, t)));
  adamw_kernel(p);
}

template <typename T>
void run_sgd(Tensor& params, const Tensor& grads, Tensor& buf, const Tensor& wd_mask, const SgdParams& s,
             bool first_step) {
  SgdKernelParams<T> p;
  p.params = params.data<T>();
  p.grads = grads.data<T>();
  p.buf = s.momentum != 0 ? buf.data<T>() : nullptr;
  p.wd_mask = wd_mask.defined() ? wd_mask.data<uint8_t>() : nullptr;
  p.n = params.numel();
  p.lr = static_cast<T>(s.lr);
  p.momentum = static_cast<T>(s.momentum);
  p.weight_decay = static_cast<T>(s.weight_decay);
  p.nesterov = s.nesterov;
  p.first_step = first_step;
  sgd_kernel(p);
}

}  // namespace
}  // namespace attncamp::ops::cpu

namespace attncamp::ops {

void adamw_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const Tensor& wd_mask,
                const AdamWParams& p) {
  cpu::check_buffers("adamw_step", params, {{&grads, "adamw grads"}, {&m, "adamw m"}, {&v, "adamw v"}}, wd_mask);
  ATTNCAMP_CHECK(p.step >= 1, "adamw_step: step must be >= 1 (1-based), got ", p.step);
  ATTNCAMP_CHECK(p.beta1 >= 0 && p.beta1 < 1 && p.beta2 >= 0 && p.beta2 < 1,
                 "adamw_step: betas must be in [0, 1), got ", p.beta1, ", ", p.beta2);
  if (params.dtype() == DType::kF32) {
    cpu::run_adamw<float>(params, grads, m, v, wd_mask, p);
  } else {
    cpu::run_adamw<double>(params, grads, m, v, wd_mask, p);
  }
}

void sgd_step(Tensor& params, const Tensor& grads, Tensor& momentum_buf, const Tensor& wd_mask, const SgdParams& p,
              bool first_step) {
  if (p.momentum != 0) {
    ATTNCAMP_CHECK(momentum_buf.defined(), "sgd_step: momentum ", p.momentum, " needs a momentum buffer");
    cpu::check_buffers("sgd_step", params, {{&grads, "sgd grads"}, {&momentum_buf, "sgd momentum_buf"}}, wd_mask);
  } else {
    ATTNCAMP_CHECK(!p.nesterov, "sgd_step: nesterov needs momentum > 0");
    cpu::check_buffers("sgd_step", params, {{&grads, "sgd grads"}}, wd_mask);
  }
  if (params.dtype() == DType::kF32) {
    cpu::run_sgd<float>(params, grads, momentum_buf, wd_mask, p, first_step);
  } else {
    cpu::run_sgd<double>(params, grads, momentum_buf, wd_mask, p, first_step);
  }
}

}  // namespace attncamp::ops
