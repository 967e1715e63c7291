// CPU optimizer steps and the tensor-level API (CUDA buffers go to ops/cuda/optimizer.cu): one
// elementwise pass over the flat buffers, parallel with a static schedule (each element's update
// depends only on that element, so results are thread-count independent). Coefficients are
// computed once in double and applied in the buffer's dtype; the CUDA kernel gets the same ones.
#include "ops/optimizer.h"

#include <cmath>
#include <initializer_list>
#include <type_traits>
#include <utility>

#include "ops/dispatch.h"
#include "runtime/half.h"

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
  T decay = 1, beta1 = 0, beta2 = 0, eps = 0, step_size = 0, bias2_sqrt = 1, grad_scale = 1;
};

template <typename T>
void adamw_kernel(const AdamWKernelParams<T>& p) {
  const T one_minus_b1 = T(1) - p.beta1, one_minus_b2 = T(1) - p.beta2;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const T keep = p.wd_mask == nullptr || p.wd_mask[i] != 0 ? p.decay : T(1);
    const T g = p.grads[i] * p.grad_scale;
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
  T lr = 0, momentum = 0, weight_decay = 0, grad_scale = 1;
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
    T g = p.grads[i] * p.grad_scale + wd * p.params[i];
    if (use_momentum) {
      const T b = p.first_step ? g : mom_old * p.buf[i] + g;
      p.buf[i] = b;
      g = p.nesterov ? g + nest * b : b;
    }
    p.params[i] = p.params[i] - p.lr * g;
  }
}

// Sets the per-step coefficients of AdamW kernel parameters `k` (the CPU struct or
// cuda::AdamWArgs; the field type is the kernel's arithmetic type), computed once in double.
template <typename K>
void set_adamw_coeffs(const AdamWParams& a, K& k) {
  using T = decltype(k.decay);
  const double t = static_cast<double>(a.step);
  k.decay = static_cast<T>(1.0 - a.lr * a.weight_decay);
  k.beta1 = static_cast<T>(a.beta1);
  k.beta2 = static_cast<T>(a.beta2);
  k.eps = static_cast<T>(a.eps);
  k.step_size = static_cast<T>(a.lr / (1.0 - std::pow(a.beta1, t)));
  k.bias2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(a.beta2, t)));
  k.grad_scale = static_cast<T>(a.grad_scale);
}

// Same for SGD.
template <typename K>
void set_sgd_coeffs(const SgdParams& s, bool first_step, K& k) {
  using T = decltype(k.lr);
  k.lr = static_cast<T>(s.lr);
  k.momentum = static_cast<T>(s.momentum);
  k.weight_decay = static_cast<T>(s.weight_decay);
  k.grad_scale = static_cast<T>(s.grad_scale);
  k.nesterov = s.nesterov;
  k.first_step = first_step;
}

// Checks the flat buffers (devices were checked by on_cuda): params CPU f32 or f64, CUDA f32
// (master weights); every buffer in `same` like params; the mask u8 of params' shape.
void check_buffers(const char* op, bool cuda, const Tensor& params,
                   std::initializer_list<std::pair<const Tensor*, const char*>> same, const Tensor& wd_mask) {
  check_arg(op, "params", params, cuda ? DTypeSet{DType::kF32} : kCpuFloat);
  for (const auto& [t, what] : same) check_like(op, what, *t, params);
  if (wd_mask.defined()) check_exact(op, "wd_mask", wd_mask, params.shape(), DType::kU8);
}

// Checks the optional compute copy: as many elements as params, contiguous; CPU f32, f64, bf16
// or f16, CUDA f32, bf16 or f16.
void check_copy(const char* op, bool cuda, const Tensor& params, const Tensor* copy) {
  if (copy == nullptr) return;
  ATTNCAMP_CHECK(copy->defined(), op,
                 ": compute_copy must be defined (pass nullptr for none); got an undefined tensor");
  ATTNCAMP_CHECK(copy->numel() == params.numel(), op, ": compute_copy must have params' ", params.numel(),
                 " elements; got ", copy->numel());
  check_arg(op, "compute_copy", *copy, cuda ? kCudaActivation : kAnyFloat);
}

// copy[i] = src[i] rounded to copy's dtype (round to nearest even; via f32 for bf16/f16).
template <typename T>
void write_copy(const T* src, int64_t n, Tensor& copy) {
  dispatch_any_float(copy.dtype(), "compute_copy", [&](auto tag) {
    using D = decltype(tag);
    D* d = copy.data<D>();
    if constexpr (std::is_same_v<D, BFloat16>) {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) d[i] = float_to_bf16(static_cast<float>(src[i]));
    } else if constexpr (std::is_same_v<D, Float16>) {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) d[i] = float_to_f16(static_cast<float>(src[i]));
    } else {
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(src[i]);
    }
  });
}

template <typename T>
void run_adamw(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const Tensor& wd_mask, const AdamWParams& a,
               Tensor* copy) {
  AdamWKernelParams<T> p;
  p.params = params.data<T>();
  p.grads = grads.data<T>();
  p.m = m.data<T>();
  p.v = v.data<T>();
  p.wd_mask = wd_mask.defined() ? wd_mask.data<uint8_t>() : nullptr;
  p.n = params.numel();
  set_adamw_coeffs(a, p);
  adamw_kernel(p);
  if (copy != nullptr) write_copy(p.params, p.n, *copy);
}

template <typename T>
void run_sgd(Tensor& params, const Tensor& grads, Tensor& buf, const Tensor& wd_mask, const SgdParams& s,
             bool first_step, Tensor* copy) {
  SgdKernelParams<T> p;
  p.params = params.data<T>();
  p.grads = grads.data<T>();
  p.buf = s.momentum != 0 ? buf.data<T>() : nullptr;
  p.wd_mask = wd_mask.defined() ? wd_mask.data<uint8_t>() : nullptr;
  p.n = params.numel();
  set_sgd_coeffs(s, first_step, p);
  sgd_kernel(p);
  if (copy != nullptr) write_copy(p.params, p.n, *copy);
}

}  // namespace
}  // namespace attncamp::ops::cpu

namespace attncamp::ops {

void adamw_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const Tensor& wd_mask, const AdamWParams& p,
                Tensor* compute_copy) {
  const char* op = "adamw_step";
  const bool cuda = on_cuda(op, {&params, &grads, &m, &v, &wd_mask, compute_copy});
  cpu::check_buffers(op, cuda, params, {{&grads, "grads"}, {&m, "m"}, {&v, "v"}}, wd_mask);
  cpu::check_copy(op, cuda, params, compute_copy);
  ATTNCAMP_CHECK(p.step >= 1, "adamw_step: step must be >= 1 (1-based), got ", p.step);
  ATTNCAMP_CHECK(p.beta1 >= 0 && p.beta1 < 1 && p.beta2 >= 0 && p.beta2 < 1,
                 "adamw_step: betas must be in [0, 1), got ", p.beta1, ", ", p.beta2);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::AdamWArgs a;
    a.n = params.numel();
    a.params = params.data<float>();
    a.grads = grads.data<float>();
    a.m = m.data<float>();
    a.v = v.data<float>();
    a.wd_mask = wd_mask.defined() ? wd_mask.data<uint8_t>() : nullptr;
    a.compute_copy = compute_copy != nullptr ? compute_copy->raw_data() : nullptr;
    a.copy_dtype = compute_copy != nullptr ? compute_copy->dtype() : DType::kBF16;
    cpu::set_adamw_coeffs(p, a);
    a.device = params.device().index;
    cuda::adamw_step(a);
#endif
    return;
  }
  dispatch_float(params.dtype(), op,
                 [&](auto tag) { cpu::run_adamw<decltype(tag)>(params, grads, m, v, wd_mask, p, compute_copy); });
}

void sgd_step(Tensor& params, const Tensor& grads, Tensor& momentum_buf, const Tensor& wd_mask, const SgdParams& p,
              bool first_step, Tensor* compute_copy) {
  const char* op = "sgd_step";
  const bool cuda = on_cuda(op, {&params, &grads, &momentum_buf, &wd_mask, compute_copy});
  if (p.momentum != 0) {
    ATTNCAMP_CHECK(momentum_buf.defined(), "sgd_step: momentum ", p.momentum, " needs a momentum buffer");
    cpu::check_buffers(op, cuda, params, {{&grads, "grads"}, {&momentum_buf, "momentum_buf"}}, wd_mask);
  } else {
    ATTNCAMP_CHECK(!p.nesterov, "sgd_step: nesterov needs momentum > 0");
    cpu::check_buffers(op, cuda, params, {{&grads, "grads"}}, wd_mask);
  }
  cpu::check_copy(op, cuda, params, compute_copy);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::SgdArgs a;
    a.n = params.numel();
    a.params = params.data<float>();
    a.grads = grads.data<float>();
    a.buf = p.momentum != 0 ? momentum_buf.data<float>() : nullptr;
    a.wd_mask = wd_mask.defined() ? wd_mask.data<uint8_t>() : nullptr;
    a.compute_copy = compute_copy != nullptr ? compute_copy->raw_data() : nullptr;
    a.copy_dtype = compute_copy != nullptr ? compute_copy->dtype() : DType::kBF16;
    cpu::set_sgd_coeffs(p, first_step, a);
    a.device = params.device().index;
    cuda::sgd_step(a);
#endif
    return;
  }
  dispatch_float(params.dtype(), op, [&](auto tag) {
    cpu::run_sgd<decltype(tag)>(params, grads, momentum_buf, wd_mask, p, first_step, compute_copy);
  });
}

}  // namespace attncamp::ops
