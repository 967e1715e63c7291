// Argument checks shared by the tensor-level ops (ops/cpu/*.cpp). Each throws attncamp::Error with
// one line of the form "<op>: <argument> must be <rule>; got <value>", so a message always names
// the op, the argument and the offending value. Devices are on_cuda's job (ops/dispatch.h): every
// op calls it first with all of its tensors, so these checks do not look at devices, except to
// say which device's dtype rule an argument broke.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "runtime/tensor.h"

namespace attncamp::ops {

// A set of dtypes an argument may have.
class DTypeSet {
 public:
  constexpr DTypeSet(std::initializer_list<DType> dtypes) {
    for (DType d : dtypes) bits_ |= 1u << static_cast<unsigned>(d);
  }
  constexpr bool contains(DType d) const { return (bits_ >> static_cast<unsigned>(d)) & 1u; }
  // The members in DType order for messages: "f32", "f32 or f64", "f32, bf16 or f16".
  std::string str() const;

 private:
  uint32_t bits_ = 0;
};

// What the CPU reference kernels compute in (every tensor of a call in one of them).
inline constexpr DTypeSet kCpuFloat{DType::kF32, DType::kF64};
// Activations on CUDA (ops/dispatch.h: computed in f32, stored in any of these).
inline constexpr DTypeSet kCudaActivation{DType::kF32, DType::kBF16, DType::kF16};
// Every floating-point dtype.
inline constexpr DTypeSet kAnyFloat{DType::kF32, DType::kF64, DType::kBF16, DType::kF16};

// `t` is defined: "<op>: <what> must be defined; got an undefined tensor".
void check_defined(const char* op, const char* what, const Tensor& t);
// `t` is contiguous (its strides are in the message).
void check_contiguous(const char* op, const char* what, const Tensor& t);
// `t`'s dtype is in `dtypes`; the message names the device whose rule it is ("on cuda:0").
void check_dtype_in(const char* op, const char* what, const Tensor& t, DTypeSet dtypes);
// `t`'s dtype is `dtype`; `why`, when given, is said after it ("x's dtype", "a parameter on CUDA").
void check_dtype(const char* op, const char* what, const Tensor& t, DType dtype, const char* why = nullptr);
// `t`'s shape is `shape`; `why` as for check_dtype.
void check_shape(const char* op, const char* what, const Tensor& t, const Shape& shape, const char* why = nullptr);
// `t` has `dim` dimensions; `layout` names them in the message ("[B,S,D]").
void check_dim(const char* op, const char* what, const Tensor& t, int dim, const char* layout);

// The usual operand: defined, contiguous, a dtype in `dtypes`.
void check_arg(const char* op, const char* what, const Tensor& t, DTypeSet dtypes);
// An operand that must match another exactly: defined, contiguous, of `shape` and `dtype`.
void check_exact(const char* op, const char* what, const Tensor& t, const Shape& shape, DType dtype);
// An operand with the shape and dtype of the operand `ref`.
void check_like(const char* op, const char* what, const Tensor& t, const Tensor& ref);

// The device rule of ops/dispatch.h, for ops whose `cuda` is on_cuda's answer: activations are
// f32 or f64 on the CPU, all of one dtype; f32, bf16 or f16 on CUDA, each its own; parameters
// (and their gradients, and statistics kept in parameter precision) are f32 on CUDA and the
// activations' dtype on the CPU.
inline DTypeSet activation_dtypes(bool cuda) { return cuda ? kCudaActivation : kCpuFloat; }
// An activation operand of `shape`: defined, contiguous; `act` (the call's dtype) on the CPU, any
// activation dtype on CUDA.
void check_activation(const char* op, const char* what, const Tensor& t, const Shape& shape, DType act, bool cuda);
// check_activation with the shape and dtype of the activation operand `ref`.
void check_activation_like(const char* op, const char* what, const Tensor& t, const Tensor& ref, bool cuda);
// A parameter operand of `shape`: defined, contiguous; f32 on CUDA, `act` (the activations' dtype)
// on the CPU.
void check_param(const char* op, const char* what, const Tensor& t, const Shape& shape, DType act, bool cuda);

// A [..., C] operand seen as rows of C (C = size(-1); rows = numel / C, 0 when C is 0).
struct Rows {
  int64_t rows = 0, cols = 0;
};
// check_arg, at least one dimension, and the rows of `t`.
Rows check_rows(const char* op, const char* what, const Tensor& t, DTypeSet dtypes);

// An [N,C] matrix of class scores (logits) with C > 0: check_arg, and the shape rule.
void check_logits(const char* op, const char* what, const Tensor& t, DTypeSet dtypes);

// Class labels of a CPU [N] i32 tensor (checked by the caller): each in [0, classes), or -1 for an
// ignored row; the message names the first bad label and its index.
void check_class_labels(const char* op, const Tensor& labels, int64_t classes);

}  // namespace attncamp::ops
