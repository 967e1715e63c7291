// Helpers for CUDA parity tests: skip (saying why) without a GPU, move tensors between the host
// and the GPU in any float dtype, and the tolerance rule of STYLE.md,
//   max|out - ref64| <= 2 * max|ref_lowp - ref64| + eps,
// where ref64 is the CPU reference in f64 and ref_lowp the same computation on inputs rounded to
// the kernel's dtype with the output rounded to it (the error the dtype alone causes).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "runtime/tensor.h"

namespace attncamp::test {

// Empty when a CUDA device can be used; otherwise why not ("this build has no CUDA support ...",
// "no CUDA device on this machine").
std::string gpu_unavailable_reason();

// Contiguous CUDA tensor (device 0) of `dtype` holding the values of the CPU tensor `t`.
Tensor to_gpu(const Tensor& t, DType dtype);
// CPU f64 copy of a floating-point tensor on any device.
Tensor to_host_f64(const Tensor& t);
// CPU f64 tensor with the values of `t` rounded through `dtype` (what a kernel of that dtype reads).
Tensor round_through(const Tensor& t, DType dtype);
// 2 * max|ref_lowp - ref64| + eps.
double lowp_tolerance(const Tensor& ref64, const Tensor& ref_lowp, double eps);

}  // namespace attncamp::test

// First statement of every test that needs a GPU.
#define ATTNCAMP_REQUIRE_GPU()                                                    \
  do {                                                                            \
    const std::string attncamp_why_ = ::attncamp::test::gpu_unavailable_reason(); \
    if (!attncamp_why_.empty()) GTEST_SKIP() << attncamp_why_;                    \
  } while (0)
