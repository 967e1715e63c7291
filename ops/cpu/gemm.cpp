// CPU GEMM: the tensor-level gemm() checks shapes and dispatches to cpu::gemm<T>, which runs one
// GEMM per batch entry: f32 on the native AVX2 kernel (ops/cpu/sgemm_native.h) unless
// ATTNCAMP_GEMM=blas, f64 (and f32 without AVX2) on OpenBLAS. Small batched problems are spread
// over OpenMP threads (each GEMM then runs single-threaded); large ones use the GEMM's threads.
// CUDA tensors go to cuBLASLt (ops/cuda/gemm.cu) after the CUDA dtype checks.
#include "ops/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "ops/cpu/sgemm_native.h"
#include "ops/dispatch.h"
#include "runtime/env.h"

namespace attncamp::ops {
namespace cpu {
namespace {

void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha, const float* a, int lda,
               const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha, const double* a, int lda,
               const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// C = beta * C for one [m,n] block (K == 0); beta == 0 overwrites, as BLAS does.
template <class T>
void scale_block(T* c, int64_t m, int64_t n, int64_t ldc, T beta) {
  for (int64_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) row[j] = beta == T(0) ? T(0) : beta * row[j];
  }
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

// True when f32 GEMMs run on the native kernel: it is compiled in and ATTNCAMP_GEMM != "blas".
bool use_native_sgemm() {
  static const bool native = [] {
    const char* v = std::getenv(env::kGemm);
    return sgemm_native_available() && !(v != nullptr && std::strcmp(v, "blas") == 0);
  }();
  return native;
}

// One batch entry: the native kernel for f32 when selected, otherwise BLAS.
template <class T>
void gemm_one(const GemmParams<T>& p, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, const T* a, const T* b, T* c) {
  if constexpr (std::is_same_v<T, float>) {
    if (use_native_sgemm()) {
      sgemm_native(p.trans_a, p.trans_b, p.m, p.n, p.k, p.alpha, a, p.lda, b, p.ldb, p.beta, c, p.ldc);
      return;
    }
  }
  blas_gemm(ta, tb, static_cast<int>(p.m), static_cast<int>(p.n), static_cast<int>(p.k), p.alpha, a,
            static_cast<int>(p.lda), b, static_cast<int>(p.ldb), p.beta, c, static_cast<int>(p.ldc));
}

}  // namespace

template <class T>
void gemm(const GemmParams<T>& p) {
  ATTNCAMP_CHECK(p.m >= 0 && p.n >= 0 && p.k >= 0 && p.batch >= 0, "gemm: negative size m=", p.m, " n=", p.n,
                 " k=", p.k, " batch=", p.batch);
  ATTNCAMP_CHECK(
      fits_int(p.m) && fits_int(p.n) && fits_int(p.k) && fits_int(p.lda) && fits_int(p.ldb) && fits_int(p.ldc),
      "gemm: sizes exceed the 32-bit BLAS interface (m=", p.m, " n=", p.n, " k=", p.k, ")");
  if (p.m == 0 || p.n == 0 || p.batch == 0) return;
  if (p.k == 0) {
    for (int64_t e = 0; e < p.batch; ++e) scale_block(p.c + e * p.stride_c, p.m, p.n, p.ldc, p.beta);
    return;
  }
  const CBLAS_TRANSPOSE ta = p.trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = p.trans_b ? CblasTrans : CblasNoTrans;
  if (p.batch == 1) {
    gemm_one(p, ta, tb, p.a, p.b, p.c);
    return;
  }
  // Per-entry work below ~2 MFLOP gains little from OpenBLAS threads; run entries in parallel.
  const double flops = 2.0 * static_cast<double>(p.m) * static_cast<double>(p.n) * static_cast<double>(p.k);
  const bool over_batch = flops < 2.0e6 || p.batch >= 4 * omp_get_max_threads();
#pragma omp parallel for schedule(static) if (over_batch)
  for (int64_t e = 0; e < p.batch; ++e) {
    gemm_one(p, ta, tb, p.a + e * p.stride_a, p.b + e * p.stride_b, p.c + e * p.stride_c);
  }
}

template void gemm<float>(const GemmParams<float>&);
template void gemm<double>(const GemmParams<double>&);

}  // namespace cpu

namespace {

// Sizes, leading dimensions and batch strides (in elements) of one gemm() call.
struct GemmShape {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  int64_t lda = 0, stride_a = 0, ldb = 0, stride_b = 0, ldc = 0, stride_c = 0;
};

// Checks every shape of a gemm() call (any dtype or device) and returns its sizes.
GemmShape check_shapes(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c) {
  ATTNCAMP_CHECK(c.dim() == 2 || c.dim() == 3, "gemm: C must be [M,N] or [batch,M,N], got ", shape_str(c.shape()));
  const bool batched = c.dim() == 3;
  auto rows = [](const Tensor& t) { return t.size(t.dim() - 2); };
  auto cols = [](const Tensor& t) { return t.size(t.dim() - 1); };
  GemmShape s;
  s.batch = batched ? c.size(0) : 1;
  for (const Tensor* t : {&a, &b}) {
    ATTNCAMP_CHECK(t->dim() == 2 || (batched && t->dim() == 3 && t->size(0) == s.batch), "gemm: operands ",
                   shape_str(a.shape()), " and ", shape_str(b.shape()), " do not match output ", shape_str(c.shape()),
                   " (2-D, or 3-D with the output's batch size)");
  }
  s.m = trans_a ? cols(a) : rows(a);
  s.k = trans_a ? rows(a) : cols(a);
  const int64_t kb = trans_b ? cols(b) : rows(b);
  s.n = trans_b ? rows(b) : cols(b);
  ATTNCAMP_CHECK(s.k == kb, "gemm: inner dimensions differ: op(A) is [", s.m, ",", s.k, "] (A ", shape_str(a.shape()),
                 trans_a ? "^T" : "", "), op(B) is [", kb, ",", s.n, "] (B ", shape_str(b.shape()), trans_b ? "^T" : "",
                 ")");
  ATTNCAMP_CHECK(rows(c) == s.m && cols(c) == s.n, "gemm: output ", shape_str(c.shape()), " should be [", s.m, ",", s.n,
                 "] for A ", shape_str(a.shape()), trans_a ? "^T" : "", " and B ", shape_str(b.shape()),
                 trans_b ? "^T" : "");
  s.lda = std::max<int64_t>(1, cols(a));
  s.stride_a = a.dim() == 3 ? rows(a) * cols(a) : 0;
  s.ldb = std::max<int64_t>(1, cols(b));
  s.stride_b = b.dim() == 3 ? rows(b) * cols(b) : 0;
  s.ldc = std::max<int64_t>(1, s.n);
  s.stride_c = s.m * s.n;
  return s;
}

template <class T>
GemmParams<T> make_params(const GemmShape& s, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b,
                          const Tensor& c, double alpha, double beta) {
  GemmParams<T> p;
  p.m = s.m;
  p.n = s.n;
  p.k = s.k;
  p.batch = s.batch;
  p.trans_a = trans_a;
  p.trans_b = trans_b;
  p.a = a.data<T>();
  p.lda = s.lda;
  p.stride_a = s.stride_a;
  p.b = b.data<T>();
  p.ldb = s.ldb;
  p.stride_b = s.stride_b;
  p.c = c.data<T>();
  p.ldc = s.ldc;
  p.stride_c = s.stride_c;
  p.alpha = static_cast<T>(alpha);
  p.beta = static_cast<T>(beta);
  return p;
}

#ifdef ATTNCAMP_WITH_CUDA
// CUDA tensors (each an activation dtype, checked): dtype rule of ops/gemm.h, then cuBLASLt
// (ops/cuda/gemm.cu).
void gemm_cuda(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, double alpha, double beta) {
  ATTNCAMP_CHECK(a.dtype() == b.dtype(), "gemm: A is ", dtype_name(a.dtype()), " but B is ", dtype_name(b.dtype()),
                 "; on CUDA A and B share one dtype");
  ATTNCAMP_CHECK(c.dtype() == a.dtype() || c.dtype() == DType::kF32, "gemm: C is ", dtype_name(c.dtype()), " for ",
                 dtype_name(a.dtype()), " operands; on CUDA C is f32 or the operands' dtype");
  const GemmShape s = check_shapes(a, trans_a, b, trans_b, c);
  cuda::GemmCudaParams p;
  p.m = s.m;
  p.n = s.n;
  p.k = s.k;
  p.batch = s.batch;
  p.trans_a = trans_a;
  p.trans_b = trans_b;
  p.a = a.raw_data();
  p.lda = s.lda;
  p.stride_a = s.stride_a;
  p.b = b.raw_data();
  p.ldb = s.ldb;
  p.stride_b = s.stride_b;
  p.c = c.raw_data();
  p.ldc = s.ldc;
  p.stride_c = s.stride_c;
  p.ab_dtype = a.dtype();
  p.c_dtype = c.dtype();
  p.alpha = static_cast<float>(alpha);
  p.beta = static_cast<float>(beta);
  cuda::gemm(p, c.device().index);
}
#endif

}  // namespace

void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, double alpha, double beta) {
  const bool cuda = on_cuda("gemm", {&a, &b, &c});
  check_arg("gemm", "A", a, activation_dtypes(cuda));
  check_arg("gemm", "B", b, activation_dtypes(cuda));
  check_arg("gemm", "C", c, activation_dtypes(cuda));
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    gemm_cuda(a, trans_a, b, trans_b, c, alpha, beta);
#endif
    return;
  }
  check_dtype("gemm", "A", a, c.dtype(), "C's dtype");
  check_dtype("gemm", "B", b, c.dtype(), "C's dtype");
  const GemmShape s = check_shapes(a, trans_a, b, trans_b, c);
  dispatch_float(c.dtype(), "gemm",
                 [&](auto tag) { cpu::gemm(make_params<decltype(tag)>(s, a, trans_a, b, trans_b, c, alpha, beta)); });
}

}  // namespace attncamp::ops
