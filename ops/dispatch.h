// Where an op runs: on the device its tensors live on. Tensor-level ops call on_cuda() first;
// it returns true for CUDA tensors in CUDA builds (the op then calls its ops/cuda launcher),
// throws a clear error for CUDA tensors in CPU-only builds, and checks that every tensor of
// the call is on the same device.
//
// Dtypes on CUDA: activations (inputs, outputs and their gradients) may be f32, bf16 or f16 and
// are computed in f32; parameters and their gradients (gamma, beta, bias, master weights) are
// f32. The CPU reference accepts f32 and f64, all of one dtype.
//
// Dtypes on the CPU: dispatch_float (dispatch_dtype for other sets) calls a generic lambda with
// a value of the C++ element type of a runtime dtype, so a kernel is written once as a template:
//   dispatch_float(x.dtype(), "gelu_forward", [&](auto tag) {
//     using T = decltype(tag);
//     cpu::gelu_forward(x.data<T>(), y.data<T>(), x.numel());
//   });
#pragma once

#include <initializer_list>

#include "ops/check.h"
#include "runtime/dtype.h"
#include "runtime/tensor.h"

namespace attncamp::ops {

// True when the op `op` must run on CUDA: all defined tensors in `ts` are on one device and it
// is a CUDA device. Throws attncamp::Error naming the op when the tensors are on different
// devices, or when they are on CUDA and this build has no CUDA support.
bool on_cuda(const char* op, std::initializer_list<const Tensor*> ts);

// Throws unless `t` is f32, bf16 or f16 (a CUDA activation dtype); `what` names the argument.
// (check_dtype_in(op, what, t, kCudaActivation) of ops/check.h.)
void check_cuda_activation(const char* op, const char* what, const Tensor& t);

// The C++ element type of a dtype: CppType<DType::kF32> is float (the inverse of DTypeOf).
template <DType D>
struct CppTypeOf;
template <>
struct CppTypeOf<DType::kF32> {
  using type = float;
};
template <>
struct CppTypeOf<DType::kF64> {
  using type = double;
};
template <>
struct CppTypeOf<DType::kBF16> {
  using type = BFloat16;
};
template <>
struct CppTypeOf<DType::kF16> {
  using type = Float16;
};
template <>
struct CppTypeOf<DType::kI32> {
  using type = int32_t;
};
template <>
struct CppTypeOf<DType::kI64> {
  using type = int64_t;
};
template <>
struct CppTypeOf<DType::kU8> {
  using type = uint8_t;
};
template <DType D>
using CppType = typename CppTypeOf<D>::type;

namespace detail {
// Throws "<op>: dtype <dtype> has no kernel here; expected <dtypes>".
[[noreturn]] void throw_unsupported_dtype(const char* op, DType dtype, DTypeSet dtypes);

template <DType D, DType... Rest, class F>
decltype(auto) dispatch_among(DType dtype, const char* op, DTypeSet all, F& f) {
  if (dtype == D) return f(CppType<D>{});
  if constexpr (sizeof...(Rest) > 0) {
    return dispatch_among<Rest...>(dtype, op, all, f);
  } else {
    throw_unsupported_dtype(op, dtype, all);
  }
}
}  // namespace detail

// Returns f(CppType<D>{}) for the D among `Ds` that equals `dtype` (f takes the value only for
// its type); throws attncamp::Error naming `op` when `dtype` is none of them. Every branch of f
// must return the same type.
template <DType... Ds, class F>
decltype(auto) dispatch_dtype(DType dtype, const char* op, F&& f) {
  return detail::dispatch_among<Ds...>(dtype, op, DTypeSet{Ds...}, f);
}

// dispatch_dtype over the CPU reference's dtypes, f32 and f64.
template <class F>
decltype(auto) dispatch_float(DType dtype, const char* op, F&& f) {
  return dispatch_dtype<DType::kF32, DType::kF64>(dtype, op, f);
}

// dispatch_dtype over every floating-point dtype (kAnyFloat): f32, f64, bf16 and f16.
template <class F>
decltype(auto) dispatch_any_float(DType dtype, const char* op, F&& f) {
  return dispatch_dtype<DType::kF32, DType::kF64, DType::kBF16, DType::kF16>(dtype, op, f);
}

}  // namespace attncamp::ops
