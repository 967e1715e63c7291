// Matrix products: C = alpha * op(A) @ op(B) + beta * C, row-major, with an optional batch
// dimension. Used by linear layers and attention. On the CPU, f32 runs on attncamp's own AVX2
// kernel (ops/cpu/sgemm_native.h; ATTNCAMP_GEMM=blas selects OpenBLAS instead), f64 on OpenBLAS.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// Row-major C = alpha * op(A) @ op(B) + beta * C for f32 or f64 tensors (all the same dtype,
// contiguous, one device). op(A) is [M,K]: A is [M,K], or [K,M] when trans_a. op(B) is [K,N]:
// B is [K,N], or [N,K] when trans_b. C is [M,N]. With beta == 0, C is not read (NaNs in it
// are overwritten). Batched form: C is [batch,M,N] and A, B are [batch,...]; A or B may be
// 2-D, then the same matrix is used for every batch entry. Throws attncamp::Error on shape,
// dtype, contiguity or device mismatches.
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

}  // namespace attncamp::ops
