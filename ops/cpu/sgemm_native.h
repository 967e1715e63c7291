// Native f32 GEMM for x86-64 AVX2+FMA (BLIS-style): B is packed into KC x 16 panels, A into
// 6 x KC panels, and a 6x16 register-blocked FMA micro-kernel updates C. OpenMP threads split
// C into tiles (never K), so every element's K-sum has the same order for any thread count.
#pragma once

#include <cstdint>

namespace attncamp::ops::cpu {

// True when this build has the AVX2/FMA kernel (x86-64 compiled with -mavx2 -mfma).
bool sgemm_native_available();

// Row-major C = alpha * op(A) @ op(B) + beta * C. op(A) is [m,k] (A is [m,k], or [k,m] when
// trans_a, leading dimension lda); op(B) is [k,n] (B is [k,n], or [n,k] when trans_b); C is
// [m,n] with leading dimension ldc. beta == 0 overwrites C without reading it. Runs on the
// current OpenMP team size (one thread when called inside a parallel region). Results are
// bit-identical for any number of threads. Requires sgemm_native_available().
void sgemm_native(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace attncamp::ops::cpu
