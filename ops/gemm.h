// Matrix products: C = alpha * op(A) @ op(B) + beta * C, row-major, with an optional batch
// dimension. Used by linear layers and attention. On the CPU, f32 runs on attncamp's own AVX2
// kernel (ops/cpu/sgemm_native.h; ATTNCAMP_GEMM=blas selects OpenBLAS instead), f64 on OpenBLAS;
// on CUDA, cuBLASLt (ops/cuda/gemm.cu).
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// Row-major C = alpha * op(A) @ op(B) + beta * C. On the CPU: f32 or f64 tensors, all the same
// dtype. On CUDA: A and B f32, bf16 or f16 (one dtype), C f32 or A's dtype (bf16/f16 inputs with an
// f32 C and beta = 1 is how weight gradients accumulate). All contiguous, on one device.
// op(A) is [M,K]: A is [M,K], or [K,M] when trans_a. op(B) is [K,N]: B is [K,N], or [N,K] when
// trans_b. C is [M,N]. With beta == 0, C is not read (NaNs in it are overwritten). Batched form:
// C is [batch,M,N] and A, B are [batch,...]; A or B may be 2-D, then the same matrix is used for
// every batch entry. Throws attncamp::Error on shape, dtype, contiguity or device mismatches.
void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, double alpha = 1.0,
          double beta = 0.0);
// Same, for an output that is a temporary view (e.g. `grad.view({n, 1})`); writes through it.
inline void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor&& c, double alpha = 1.0,
                 double beta = 0.0) {
  gemm(a, trans_a, b, trans_b, c, alpha, beta);
}

// Kernel-level description of a (batched) row-major GEMM. Leading dimensions and batch
// strides are in elements; a batch stride of 0 reuses the same matrix for every entry.
template <class T>
struct GemmParams {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  const T* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const T* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  T* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  int64_t batch = 1;
  T alpha = 1, beta = 0;
};

namespace cpu {
// Runs the GEMM described by `p` (T = float or double). Small batched problems run one GEMM
// per OpenMP thread; large ones use the GEMM's own threading.
template <class T>
void gemm(const GemmParams<T>& p);
}  // namespace cpu

namespace cuda {
// Kernel-level description of a (batched) row-major GEMM on CUDA: GemmParams (same sizes,
// leading dimensions and batch strides, in elements) with untyped pointers and the operand
// dtypes. A and B share `ab_dtype` (f32, bf16 or f16); C has `c_dtype`, which is f32 or ab_dtype
// (f32 when A and B are f32). Scalars are f32; products accumulate in f32.
struct GemmCudaParams {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  const void* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const void* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  void* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  int64_t batch = 1;
  DType ab_dtype = DType::kF32, c_dtype = DType::kF32;
  float alpha = 1, beta = 0;
};

// Runs `p` through cuBLASLt on the calling thread's current stream of `device`, computing in f32
// (CUBLAS_COMPUTE_32F: f32 inputs are not rounded to TF32, so f32 results match the CPU to f32
// rounding). With beta == 0, C is not read. The algorithm is chosen once per shape, strides,
// dtypes, transposes and pointer alignment and cached; a problem cuBLASLt has no algorithm for
// (or K == 0) runs on gemm_naive instead.
void gemm(const GemmCudaParams& p, int device);
// The same product on a plain kernel (one thread per element of C, f32 sum over K in order):
// the reference rung below cuBLASLt, and its fallback.
void gemm_naive(const GemmCudaParams& p, int device);
// Whether new GEMM plans time cuBLASLt's candidate algorithms and keep the fastest instead of
// taking the heuristic's first: $ATTNCAMP_GEMM_AUTOTUNE=1 and $ATTNCAMP_DETERMINISTIC not 1 (the
// timed choice can differ between runs). Each variable must be 0, 1 or unset. CUDA builds only.
bool gemm_autotune_enabled();
}  // namespace cuda

}  // namespace attncamp::ops
