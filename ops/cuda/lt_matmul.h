// Shared by ops/cuda/gemm.cu and ops/cuda/linear.cu (CUDA translation units only): the cuBLASLt
// GEMM with a bias epilogue, and the f32 <-> element conversions every kernel here uses
// (16-bit values are widened to f32 for arithmetic and rounded to nearest even when stored).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "ops/cuda/act_io.cuh"
#include "ops/gemm.h"

namespace attncamp::ops::cuda {

// gemm(p) with bias[j] added to every row of C after the product, in cuBLASLt's epilogue:
// C = alpha op(A) op(B) + beta C + bias. `bias` holds p.n elements of dtype p.c_dtype (cuBLASLt
// requires the output's type for it) or is nullptr (no bias). A bias needs p.batch == 1.
void gemm_bias(const GemmCudaParams& p, const void* bias, int device);

}  // namespace attncamp::ops::cuda
