// Tests for ops::gemm: every transpose combination, alpha/beta, batched and broadcast forms
// against a naive triple loop in double, f32 against f64, and the shape checks.
#include "ops/gemm.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace attncamp {
namespace {

// Tolerances: f64 products of K <= 64 terms in [-1,1] round at ~1e-14; f32 at ~1e-5.
constexpr double kTolF64 = 1e-12;
constexpr double kTolF32 = 2e-5;

double at(const Tensor& t, int64_t i) { return t.dtype() == DType::kF32 ? t.data<float>()[i] : t.data<double>()[i]; }

// Reference: C[e] = alpha * op(A[e]) @ op(B[e]) + beta * C0[e], in double; 2-D operands broadcast.
Tensor reference(const Tensor& a, bool ta, const Tensor& b, bool tb, const Tensor& c0, double alpha, double beta) {
  const bool batched = c0.dim() == 3;
  const int64_t batch = batched ? c0.size(0) : 1, m = c0.size(-2), n = c0.size(-1);
  const int64_t k = ta ? a.size(-2) : a.size(-1);
  const int64_t sa = a.dim() == 3 ? a.size(1) * a.size(2) : 0, sb = b.dim() == 3 ? b.size(1) * b.size(2) : 0;
  const int64_t lda = a.size(-1), ldb = b.size(-1);
  Tensor c = Tensor::empty(c0.shape(), DType::kF64);
  for (int64_t e = 0; e < batch; ++e) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t l = 0; l < k; ++l) {
          const double av = at(a, e * sa + (ta ? l * lda + i : i * lda + l));
          const double bv = at(b, e * sb + (tb ? j * ldb + l : l * ldb + j));
          s += av * bv;
        }
        const int64_t idx = (e * m + i) * n + j;
        c.data<double>()[idx] = alpha * s + (beta == 0 ? 0.0 : beta * at(c0, idx));
      }
    }
  }
  return c;
}

Shape mat(bool trans, int64_t rows, int64_t cols, int64_t batch = 0) {
  Shape s = trans ? Shape{cols, rows} : Shape{rows, cols};
  if (batch > 0) s.insert(s.begin(), batch);
  return s;
}

TEST(Gemm, AllTransposesMatchReference) {
  const int64_t m = 7, n = 5, k = 9;
  for (DType dt : {DType::kF32, DType::kF64}) {
    const double tol = dt == DType::kF32 ? kTolF32 : kTolF64;
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        const Tensor a = test::random_tensor(mat(ta, m, k), dt, 1);
        const Tensor b = test::random_tensor(mat(tb, k, n), dt, 2);
        // beta = 0: C is poisoned and must be overwritten.
        Tensor c = Tensor::empty({m, n}, dt);
        c.poison();
        ops::gemm(a, ta, b, tb, c);
        EXPECT_LE(test::max_abs_diff(c, reference(a, ta, b, tb, c, 1.0, 0.0)), tol) << "ta=" << ta << " tb=" << tb;
        // alpha and beta.
        Tensor c2 = test::random_tensor({m, n}, dt, 3);
        const Tensor c0 = c2.clone();
        ops::gemm(a, ta, b, tb, c2, 0.5, -1.5);
        EXPECT_LE(test::max_abs_diff(c2, reference(a, ta, b, tb, c0, 0.5, -1.5)), tol) << "ta=" << ta << " tb=" << tb;
      }
    }
  }
}

TEST(Gemm, BatchedAndBroadcast) {
  const int64_t batch = 6, m = 4, n = 3, k = 8;
  for (DType dt : {DType::kF32, DType::kF64}) {
    const double tol = dt == DType::kF32 ? kTolF32 : kTolF64;
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        for (int bcast = 0; bcast < 3; ++bcast) {  // 0: none, 1: A is 2-D, 2: B is 2-D
          const Tensor a = test::random_tensor(mat(ta, m, k, bcast == 1 ? 0 : batch), dt, 10 + bcast);
          const Tensor b = test::random_tensor(mat(tb, k, n, bcast == 2 ? 0 : batch), dt, 20 + bcast);
          Tensor c = test::random_tensor({batch, m, n}, dt, 30);
          const Tensor c0 = c.clone();
          ops::gemm(a, ta, b, tb, c, 2.0, 0.25);
          EXPECT_LE(test::max_abs_diff(c, reference(a, ta, b, tb, c0, 2.0, 0.25)), tol)
              << "ta=" << ta << " tb=" << tb << " bcast=" << bcast;
        }
      }
    }
  }
}

TEST(Gemm, LargeBatchAndLargeMatrices) {
  // Many small entries (OpenMP over the batch) and one entry big enough for OpenBLAS threads.
  for (const Shape& dims : {Shape{256, 17, 16, 33}, Shape{2, 150, 130, 140}}) {
    const int64_t batch = dims[0], m = dims[1], n = dims[2], k = dims[3];
    const Tensor a = test::random_tensor({batch, m, k}, DType::kF64, 40);
    const Tensor b = test::random_tensor({batch, n, k}, DType::kF64, 41);
    Tensor c = Tensor::empty({batch, m, n}, DType::kF64);
    c.poison();
    ops::gemm(a, false, b, true, c);
    EXPECT_LE(test::max_abs_diff(c, reference(a, false, b, true, c, 1.0, 0.0)), 1e-11);
  }
}

TEST(Gemm, F32MatchesF64) {
  const Tensor a64 = test::random_tensor({64, 48}, DType::kF64, 50);
  const Tensor b64 = test::random_tensor({48, 40}, DType::kF64, 51);
  Tensor c64 = Tensor::empty({64, 40}, DType::kF64);
  Tensor c32 = Tensor::empty({64, 40}, DType::kF32);
  c32.poison();
  ops::gemm(a64, false, b64, false, c64);
  ops::gemm(test::to_dtype(a64, DType::kF32), false, test::to_dtype(b64, DType::kF32), false, c32);
  EXPECT_LE(test::max_abs_diff(c32, c64), kTolF32);
}

TEST(Gemm, WritesThroughTemporaryViewAndHandlesEmptyK) {
  const Tensor a = test::random_tensor({6, 4}, DType::kF64, 60);
  const Tensor b = test::random_tensor({4, 1}, DType::kF64, 61);
  Tensor c = Tensor::empty({6}, DType::kF64);
  c.poison();
  ops::gemm(a, false, b, false, c.view({6, 1}));
  EXPECT_LE(test::max_abs_diff(c, reference(a, false, b, false, c.view({6, 1}), 1.0, 0.0)), kTolF64);
  // K == 0: C = beta * C (beta == 0 clears NaNs).
  Tensor c2 = Tensor::empty({3, 2}, DType::kF64);
  c2.poison();
  ops::gemm(Tensor::zeros({3, 0}, DType::kF64), false, Tensor::zeros({0, 2}, DType::kF64), false, c2);
  EXPECT_EQ(test::max_abs_diff(c2, Tensor::zeros({3, 2}, DType::kF64)), 0.0);
}

TEST(Gemm, BadShapesThrow) {
  const Tensor a = Tensor::zeros({4, 3});
  const Tensor b = Tensor::zeros({3, 5});
  Tensor c = Tensor::zeros({4, 5});
  Tensor c_bad = Tensor::zeros({4, 6});
  Tensor c64 = Tensor::zeros({4, 5}, DType::kF64);
  Tensor c3 = Tensor::zeros({2, 4, 5});
  EXPECT_NO_THROW(ops::gemm(a, false, b, false, c));
  EXPECT_THROW(ops::gemm(a, true, b, false, c), Error);                           // inner dims 4 vs 3
  EXPECT_THROW(ops::gemm(a, false, b, false, c_bad), Error);                      // wrong output
  EXPECT_THROW(ops::gemm(a, false, b, false, c64), Error);                        // dtype mismatch
  EXPECT_THROW(ops::gemm(Tensor::zeros({3, 4, 3}), false, b, false, c3), Error);  // batch 3 vs 2
  EXPECT_THROW(ops::gemm(Tensor::zeros({2, 4, 3}), false, b, false, c), Error);   // 3-D operand, 2-D output
  EXPECT_THROW(ops::gemm(Tensor::zeros({12}), false, b, false, c), Error);        // 1-D operand
  EXPECT_THROW(ops::gemm(Tensor::zeros({4, 3}, DType::kI32), false, b, false, c), Error);
  EXPECT_THROW(ops::gemm(Tensor(), false, b, false, c), Error);
}

}  // namespace
}  // namespace attncamp
