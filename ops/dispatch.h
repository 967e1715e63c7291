// Where an op runs: on the device its tensors live on. Tensor-level ops call on_cuda() first;
// it returns true for CUDA tensors in CUDA builds (the op then calls its ops/cuda launcher),
// throws a clear error for CUDA tensors in CPU-only builds, and checks that every tensor of
// the call is on the same device.
//
// Dtypes on CUDA: activations (inputs, outputs and their gradients) may be f32, bf16 or f16 and
// are computed in f32; parameters and their gradients (gamma, beta, bias, master weights) are
// f32. The CPU reference accepts f32 and f64, all of one dtype.
#pragma once

#include <initializer_list>

#include "runtime/tensor.h"

namespace attncamp::ops {

// True when the op `op` must run on CUDA: all defined tensors in `ts` are on one device and it
// is a CUDA device. Throws attncamp::Error naming the op when the tensors are on different
// devices, or when they are on CUDA and this build has no CUDA support.
bool on_cuda(const char* op, std::initializer_list<const Tensor*> ts);

// Throws unless `t` is f32, bf16 or f16 (a CUDA activation dtype); `what` names the argument.
void check_cuda_activation(const char* op, const char* what, const Tensor& t);

// A CUDA activation operand: defined, contiguous, an activation dtype, and the shape of `ref`
// when given.
void check_cuda_arg(const Tensor& t, const Tensor* ref, const char* op, const char* what);

}  // namespace attncamp::ops
