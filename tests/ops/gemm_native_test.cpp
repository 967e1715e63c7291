// Tests for the native f32 GEMM (ops/cpu/sgemm_native.h): every transpose, alpha/beta, odd sizes,
// padded leading dimensions and K = 0 against a naive double-accumulated reference, NaN-poisoned
// C with beta = 0, and bit-identical results with one and two OpenMP threads.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "ops/cpu/sgemm_native.h"

namespace attncamp {
namespace {

// f32 error bound for one output: each of the K products and partial sums rounds at most by
// 2^-24 relative; with |a|,|b| <= 1 the accumulated error is bounded by about K * 2^-23 * max|a||b|,
// plus the rounding of alpha * acc and of beta * C (a few ulps of |C|).
constexpr double kF32Eps = 1.0 / (1 << 23);
double tolerance(int64_t k, double alpha, double beta) {
  return (static_cast<double>(k) + 4.0) * kF32Eps * (std::fabs(alpha) + std::fabs(beta) + 1.0);
}

struct Case {
  int64_t m, n, k;
  bool ta, tb;
  int64_t pad;  // extra elements on every leading dimension
  float alpha, beta;
};

struct Operands {
  int64_t lda, ldb, ldc;
  std::vector<float> a, b, c0;
};

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

Operands make_operands(const Case& t, uint32_t seed) {
  Operands o;
  const int64_t a_rows = t.ta ? t.k : t.m, a_cols = t.ta ? t.m : t.k;
  const int64_t b_rows = t.tb ? t.n : t.k, b_cols = t.tb ? t.k : t.n;
  o.lda = a_cols + t.pad;
  o.ldb = b_cols + t.pad;
  o.ldc = t.n + t.pad;
  o.a = random_vec(static_cast<size_t>(std::max<int64_t>(a_rows * o.lda, 1)), seed);
  o.b = random_vec(static_cast<size_t>(std::max<int64_t>(b_rows * o.ldb, 1)), seed + 1);
  o.c0 = random_vec(static_cast<size_t>(t.m * o.ldc), seed + 2);
  return o;
}

// Runs the native kernel on a copy of C0 (poisoned with NaN when beta == 0).
std::vector<float> run_native(const Case& t, const Operands& o) {
  std::vector<float> c = o.c0;
  if (t.beta == 0.0f) {
    for (int64_t i = 0; i < t.m; ++i) {
      for (int64_t j = 0; j < t.n; ++j) c[i * o.ldc + j] = std::numeric_limits<float>::quiet_NaN();
    }
  }
  ops::cpu::sgemm_native(t.ta, t.tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta, c.data(),
                         o.ldc);
  return c;
}

// Checks C against the double reference; the padding columns must be untouched.
void expect_matches_reference(const Case& t, const Operands& o, const std::vector<float>& c) {
  const double tol = tolerance(t.k, t.alpha, t.beta);
  double worst = 0;
  for (int64_t i = 0; i < t.m; ++i) {
    for (int64_t j = 0; j < o.ldc; ++j) {
      const float got = c[i * o.ldc + j];
      if (j >= t.n) {
        ASSERT_EQ(got, o.c0[i * o.ldc + j]) << "padding written at " << i << "," << j;
        continue;
      }
      double s = 0;
      for (int64_t l = 0; l < t.k; ++l) {
        const double av = t.ta ? o.a[l * o.lda + i] : o.a[i * o.lda + l];
        const double bv = t.tb ? o.b[j * o.ldb + l] : o.b[l * o.ldb + j];
        s += av * bv;
      }
      const double ref = t.alpha * s + (t.beta == 0.0f ? 0.0 : t.beta * static_cast<double>(o.c0[i * o.ldc + j]));
      ASSERT_FALSE(std::isnan(got)) << "NaN at " << i << "," << j;
      worst = std::max(worst, std::fabs(got - ref));
    }
  }
  EXPECT_LE(worst, tol) << "m=" << t.m << " n=" << t.n << " k=" << t.k << " ta=" << t.ta << " tb=" << t.tb
                        << " alpha=" << t.alpha << " beta=" << t.beta << " pad=" << t.pad;
}

class GemmNative : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ops::cpu::sgemm_native_available()) GTEST_SKIP() << "no AVX2/FMA kernel in this build";
  }
};

TEST_F(GemmNative, AllTransposesAlphaBetaOddSizes) {
  const int64_t sizes[][3] = {{1, 1, 1}, {5, 17, 3}, {17, 5, 63}, {63, 65, 17}, {65, 63, 257}, {7, 33, 513}};
  const float ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {0.5f, -1.5f}, {-2.0f, 0.0f}};
  uint32_t seed = 1;
  for (const auto& s : sizes) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        for (const auto& albe : ab) {
          for (int64_t pad : {0, 3}) {
            const Case t{s[0], s[1], s[2], ta != 0, tb != 0, pad, albe[0], albe[1]};
            const Operands o = make_operands(t, seed++);
            expect_matches_reference(t, o, run_native(t, o));
          }
        }
      }
    }
  }
}

TEST_F(GemmNative, TrainingShapes) {
  // Linear forward (x @ W^T, beta 1), backward dx (dy @ W) and dW (dy^T @ x, K = 6401 rows).
  const Case cases[] = {{6401, 192, 64, false, true, 0, 1.0f, 1.0f},
                        {6401, 64, 256, false, false, 0, 1.0f, 0.0f},
                        {64, 256, 6401, true, false, 0, 1.0f, 1.0f},
                        {192, 16, 6401, true, false, 0, 1.0f, 0.0f}};
  uint32_t seed = 100;
  for (const Case& t : cases) {
    const Operands o = make_operands(t, seed++);
    expect_matches_reference(t, o, run_native(t, o));
  }
}

TEST_F(GemmNative, EmptyKScalesC) {
  for (float beta : {0.0f, 2.0f}) {
    const Case t{5, 7, 0, false, false, 2, 1.0f, beta};
    const Operands o = make_operands(t, 7);
    const std::vector<float> c = run_native(t, o);
    for (int64_t i = 0; i < t.m; ++i) {
      for (int64_t j = 0; j < t.n; ++j) EXPECT_EQ(c[i * o.ldc + j], beta * o.c0[i * o.ldc + j]);
    }
  }
}

TEST_F(GemmNative, BitIdenticalForOneAndTwoThreads) {
  const Case cases[] = {{6400, 192, 64, false, true, 0, 1.0f, 1.0f},
                        {6400, 256, 64, false, false, 0, 1.0f, 0.0f},
                        {64, 64, 6400, true, false, 0, 1.0f, 1.0f},
                        {256, 16, 6400, true, false, 0, 1.0f, 1.0f},
                        {65, 63, 600, true, true, 1, 0.5f, -1.5f}};
  const int saved = omp_get_max_threads();
  uint32_t seed = 200;
  for (const Case& t : cases) {
    const Operands o = make_operands(t, seed++);
    omp_set_num_threads(1);
    const std::vector<float> one = run_native(t, o);
    omp_set_num_threads(2);
    const std::vector<float> two = run_native(t, o);
    omp_set_num_threads(3);
    const std::vector<float> three = run_native(t, o);
    EXPECT_EQ(one, two) << "m=" << t.m << " n=" << t.n << " k=" << t.k;
    EXPECT_EQ(one, three) << "m=" << t.m << " n=" << t.n << " k=" << t.k;
  }
  omp_set_num_threads(saved);
}

}  // namespace
}  // namespace attncamp
