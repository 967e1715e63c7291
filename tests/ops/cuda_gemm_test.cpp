// GEMM and linear layers on CUDA (ops/cuda/gemm.cu, ops/cuda/linear.cu) against the CPU reference,
// through the parity harness (tests/ops/parity.h): every dtype combination on odd shapes (ragged
// tiles), transposes, batched and broadcast operands, outputs poisoned first. f32 is held to the
// CPU f32 result; bf16/f16 to STYLE's rule against the CPU f64 result on the rounded inputs; plans
// autotuned by ATTNCAMP_GEMM_AUTOTUNE=1 too. Also the CPU linear_gelu ops (finite differences in
// f64), which run without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "ops/gelu.h"
#include "ops/gemm.h"
#include "ops/linear.h"
#include "runtime/env.h"
#include "tests/cuda_test_util.h"
#include "tests/ops/parity.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

constexpr DType kF32 = DType::kF32, kF64 = DType::kF64, kBF16 = DType::kBF16, kF16 = DType::kF16;
// f64 linear_gelu against plain loops, and central differences (eps 1e-6) of smooth losses.
constexpr double kTolF64 = 1e-12;
constexpr double kGradTol = 1e-7;

// Allowance for f32 accumulation order over k terms of unit-range inputs (two f32 sums that
// differ in order drift apart by about sqrt(k) * 6e-8 * |partial sums|; this leaves margin).
double accum_eps(int64_t k) { return 1e-5 + 1e-6 * static_cast<double>(k); }

Tensor f64(const Tensor& t) { return test::to_dtype(t, kF64); }

Tensor gpu_poisoned(const Shape& s, DType dt) { return test::poisoned(s, dt, Device::cuda(0)); }

Shape mat(bool trans, int64_t rows, int64_t cols, int64_t batch) {
  Shape s = trans ? Shape{cols, rows} : Shape{rows, cols};
  if (batch > 0) s.insert(s.begin(), batch);
  return s;
}

// ---------------------------------------------------------------------------- GEMM

struct GemmCase {
  int64_t batch;  // 0: 2-D
  int64_t m, n, k;
  bool ta, tb;
  int bcast;  // 0: none, 1: A is 2-D, 2: B is 2-D (batched only)
  DType ab, cd;
  double alpha, beta;
};

std::string describe(const GemmCase& g) {
  std::ostringstream os;
  os << "batch=" << g.batch << " m=" << g.m << " n=" << g.n << " k=" << g.k << " ta=" << g.ta << " tb=" << g.tb
     << " bcast=" << g.bcast << " " << dtype_name(g.ab) << "->" << dtype_name(g.cd) << " alpha=" << g.alpha
     << " beta=" << g.beta;
  return os.str();
}

// GEMM parameters of row-major contiguous tensors, as the tensor-level gemm() derives them.
[[maybe_unused]] ops::cuda::GemmCudaParams params_of(const Tensor& a, bool ta, const Tensor& b, bool tb, Tensor& c,
                                                     double alpha, double beta) {
  ops::cuda::GemmCudaParams p;
  p.batch = c.dim() == 3 ? c.size(0) : 1;
  p.m = c.size(-2);
  p.n = c.size(-1);
  p.k = ta ? a.size(-2) : a.size(-1);
  p.trans_a = ta;
  p.trans_b = tb;
  p.a = a.raw_data();
  p.lda = a.size(-1);
  p.stride_a = a.dim() == 3 ? a.size(1) * a.size(2) : 0;
  p.b = b.raw_data();
  p.ldb = b.size(-1);
  p.stride_b = b.dim() == 3 ? b.size(1) * b.size(2) : 0;
  p.c = c.raw_data();
  p.ldc = p.n;
  p.stride_c = p.m * p.n;
  p.ab_dtype = a.dtype();
  p.c_dtype = c.dtype();
  p.alpha = static_cast<float>(alpha);
  p.beta = static_cast<float>(beta);
  return p;
}

// Runs `g` on the GPU (through ops::gemm, or ops::cuda::gemm_naive when `naive`) and checks it with
// the parity harness: C is an activation in the operands' dtype, or an f32 output (accumulated into
// when beta != 0) beside 16-bit operands; tolerance accum_eps(k) for f32 and as the 16-bit eps.
void check_gemm(const GemmCase& g, uint64_t seed, bool naive = false) {
  const Tensor a = test::random_tensor(mat(g.ta, g.m, g.k, g.bcast == 1 ? 0 : g.batch), kF64, seed);
  const Tensor b = test::random_tensor(mat(g.tb, g.k, g.n, g.bcast == 2 ? 0 : g.batch), kF64, seed + 1);
  const Shape cs = g.batch > 0 ? Shape{g.batch, g.m, g.n} : Shape{g.m, g.n};
  const Tensor c0 = test::random_tensor(cs, kF64, seed + 2);
  const bool f32_c = g.cd == kF32 && g.ab != kF32;
  const test::Slot c = g.beta == 0 ? (f32_c ? test::param_out("C", cs) : test::out("C", cs))
                                   : (f32_c ? test::accum("C", c0) : test::inout("C", c0));
  const double eps = accum_eps(g.k);
  test::check_parity({describe(g) + (naive ? " naive" : ""),
                      {g.ab},
                      {{eps, 0}, {eps, 0}},
                      {test::in("A", a), test::in("B", b), c},
                      [&g, naive](std::vector<Tensor>& t, const test::ParityRun& r) {
                        if (naive && r.under_test) {
#ifdef ATTNCAMP_WITH_CUDA
                          ops::cuda::gemm_naive(params_of(t[0], g.ta, t[1], g.tb, t[2], g.alpha, g.beta), 0);
#endif
                          return;
                        }
                        ops::gemm(t[0], g.ta, t[1], g.tb, t[2], g.alpha, g.beta);
                      }});
}

const std::pair<DType, DType> kCombos[] = {{kF32, kF32}, {kBF16, kBF16}, {kBF16, kF32}, {kF16, kF16}, {kF16, kF32}};

TEST(GemmParity, AllTransposesAndDtypesOnOddShapes) {
  ATTNCAMP_REQUIRE_GPU();
  uint64_t seed = 100;
  for (const auto& [ab, cd] : kCombos) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        check_gemm({0, 37, 53, 29, bool(ta), bool(tb), 0, ab, cd, 1.0, 0.0}, seed += 3);
        check_gemm({0, 37, 53, 29, bool(ta), bool(tb), 0, ab, cd, 0.5, -1.5}, seed += 3);
      }
    }
  }
}

TEST(GemmParity, AlignedShapes) {
  ATTNCAMP_REQUIRE_GPU();
  uint64_t seed = 200;
  for (const auto& [ab, cd] : kCombos) {
    check_gemm({0, 128, 96, 64, false, true, 0, ab, cd, 1.0, 0.0}, seed += 3);
    check_gemm({0, 64, 128, 256, true, false, 0, ab, cd, 1.0, 1.0}, seed += 3);  // weight-gradient form
  }
}

TEST(GemmParity, BatchedAndBroadcast) {
  ATTNCAMP_REQUIRE_GPU();
  uint64_t seed = 300;
  for (const auto& [ab, cd] : kCombos) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        for (int bcast = 0; bcast < 3; ++bcast) {
          check_gemm({5, 19, 23, 31, bool(ta), bool(tb), bcast, ab, cd, 2.0, 0.25}, seed += 3);
        }
      }
    }
    check_gemm({3, 64, 32, 48, false, true, 0, ab, cd, 1.0, 0.0}, seed += 3);
  }
}

// Plans built with ATTNCAMP_GEMM_AUTOTUNE=1 (shapes no other test uses, so the plans are new) time
// several algorithms on the call's operands first: results stay those of the CPU, also when beta
// accumulates into C (the timing runs must not touch C).
TEST(GemmParity, AutotunedPlans) {
  ATTNCAMP_REQUIRE_GPU();
  test::ScopedEnv autotune(env::kGemmAutotune, "1");
  test::ScopedEnv deterministic(env::kDeterministic, "0");
  uint64_t seed = 700;
  for (const auto& [ab, cd] : kCombos) {
    check_gemm({0, 96, 80, 72, false, true, 0, ab, cd, 1.0, 0.0}, seed += 3);
    check_gemm({0, 72, 96, 200, true, false, 0, ab, cd, 1.0, 1.0}, seed += 3);  // weight-gradient form
    check_gemm({4, 40, 48, 24, false, false, 0, ab, cd, 0.5, -1.5}, seed += 3);
  }
}

#ifdef ATTNCAMP_WITH_CUDA
TEST(GemmCuda, AutotuneFollowsTheEnvironment) {
  test::ScopedEnv deterministic(env::kDeterministic, "0");
  {
    test::ScopedEnv autotune(env::kGemmAutotune, "0");
    EXPECT_FALSE(ops::cuda::gemm_autotune_enabled());
  }
  {
    test::ScopedEnv autotune(env::kGemmAutotune, "1");
    EXPECT_TRUE(ops::cuda::gemm_autotune_enabled());
    test::ScopedEnv det(env::kDeterministic, "1");
    EXPECT_FALSE(ops::cuda::gemm_autotune_enabled());
  }
  test::ScopedEnv bad(env::kGemmAutotune, "yes");
  test::expect_error([] { ops::cuda::gemm_autotune_enabled(); }, {env::kGemmAutotune, "0 or 1", "yes"});
}
#endif

TEST(GemmParity, NaiveKernel) {
  ATTNCAMP_REQUIRE_GPU();
  uint64_t seed = 400;
  for (const auto& [ab, cd] : kCombos) {
    check_gemm({0, 37, 53, 29, true, false, 0, ab, cd, 0.5, -1.5}, seed += 3, true);
    check_gemm({5, 19, 23, 31, false, true, 2, ab, cd, 1.0, 0.0}, seed += 3, true);
  }
}

TEST(GemmCuda, EmptyKAndEmptyOutput) {
  ATTNCAMP_REQUIRE_GPU();
  for (DType dt : {kF32, kBF16}) {
    Tensor c = gpu_poisoned({3, 2}, dt);  // K == 0, beta == 0: C = 0 (NaNs overwritten)
    ops::gemm(Tensor::zeros({3, 0}, dt, Device::cuda(0)), false, Tensor::zeros({0, 2}, dt, Device::cuda(0)), false, c);
    EXPECT_EQ(test::max_abs_diff(test::to_host_f64(c), Tensor::zeros({3, 2}, kF64)), 0.0);
    Tensor e = Tensor::empty({0, 4}, dt, Device::cuda(0));
    EXPECT_NO_THROW(ops::gemm(Tensor::zeros({0, 5}, dt, Device::cuda(0)), false,
                              Tensor::zeros({5, 4}, dt, Device::cuda(0)), false, e));
  }
}

TEST(GemmCuda, DtypeRuleAndDevicesChecked) {
  ATTNCAMP_REQUIRE_GPU();
  const Tensor a16 = Tensor::zeros({4, 3}, kBF16, Device::cuda(0));
  const Tensor b32 = Tensor::zeros({3, 5}, kF32, Device::cuda(0));
  Tensor c32 = Tensor::zeros({4, 5}, kF32, Device::cuda(0));
  Tensor c16 = Tensor::zeros({4, 5}, kBF16, Device::cuda(0));
  test::expect_error([&] { ops::gemm(a16, false, b32, false, c32); }, {"gemm", "share one dtype"});
  test::expect_error([&] { ops::gemm(b32.view({5, 3}), true, b32, false, c16); }, {"gemm", "C is bf16"});
  test::expect_error([&] { ops::gemm(Tensor::zeros({4, 3}), false, b32, false, c32); }, {"different devices"});
  test::expect_error(
      [&] {
        ops::gemm(Tensor::zeros({4, 3}, kF64, Device::cuda(0)), false, b32, false, c32);
      },
      {"gemm", "f64"});
}

// ---------------------------------------------------------------------------- linear on CUDA

const std::vector<DType> kActDtypes = {kF32, kBF16, kF16};
test::Tolerance accum_tol(int64_t k) { return {{accum_eps(k), 0}, {accum_eps(k), 0}}; }

Tensor cpu_linear(const Tensor& x, const Tensor& w, const Tensor& b, DType dt) {
  Shape ys = x.shape();
  ys.back() = w.size(0);
  Tensor y = Tensor::empty(ys, dt);
  ops::linear_forward(test::to_dtype(x, dt), test::to_dtype(w, dt), b.defined() ? test::to_dtype(b, dt) : Tensor(), y);
  return f64(y);
}

TEST(LinearParity, Forward) {
  ATTNCAMP_REQUIRE_GPU();
  for (bool with_bias : {true, false}) {
    // With a 16-bit y the bias is rounded to y's dtype before it is added (ops/linear.h).
    std::vector<test::Slot> slots = {test::in("x", test::random_tensor({3, 37, 29}, kF64, 1)),
                                     test::in("w", test::random_tensor({53, 29}, kF64, 2)),
                                     test::out("y", {3, 37, 53})};
    if (with_bias) slots.push_back(test::param_as_act("b", test::random_tensor({53}, kF64, 3)));
    test::check_parity({with_bias ? "linear_forward with bias" : "linear_forward without bias", kActDtypes,
                        accum_tol(29), slots, [with_bias](std::vector<Tensor>& t, const test::ParityRun&) {
                          ops::linear_forward(t[0], t[1], with_bias ? t[3] : Tensor(), t[2]);
                        }});
  }
}

// Backward slots dy, x, w, then the outputs: dx when `with_dx`, dw, and db when `with_db` (dw and db
// f32, accumulated into). 1191 rows: 3 db chunks.
std::vector<test::Slot> backward_slots(uint64_t seed, bool with_dx, bool with_db) {
  std::vector<test::Slot> s = {test::in("dy", test::random_tensor({3, 397, 53}, kF64, seed + 2)),
                               test::in("x", test::random_tensor({3, 397, 29}, kF64, seed)),
                               test::in("w", test::random_tensor({53, 29}, kF64, seed + 1))};
  if (with_dx) s.push_back(test::out("dx", {3, 397, 29}));
  s.push_back(test::with_tol(test::accum("dw", test::random_tensor({53, 29}, kF64, seed + 3)), accum_tol(1191)));
  if (with_db)
    s.push_back(test::with_tol(test::accum("db", test::random_tensor({53}, kF64, seed + 4)), accum_tol(1191)));
  return s;
}

TEST(LinearParity, BackwardAndDbIsDeterministic) {
  ATTNCAMP_REQUIRE_GPU();
  const test::ParityOutputs full =
      test::check_parity({"linear_backward", kActDtypes, accum_tol(53), backward_slots(10, true, true),
                          [](std::vector<Tensor>& t, const test::ParityRun&) {
                            ops::linear_backward(t[0], t[1], t[2], t[3], t[4], t[5]);
                          }});
  // Undefined dx and db are skipped.
  test::check_parity({"linear_backward without dx, db", kActDtypes, accum_tol(53), backward_slots(10, false, false),
                      [](std::vector<Tensor>& t, const test::ParityRun&) {
                        Tensor none;
                        ops::linear_backward(t[0], t[1], t[2], none, t[3], none);
                      }});
  // db sums the same way every time, with or without dx.
  const test::ParityOutputs no_dx =
      test::check_parity({"linear_backward without dx", kActDtypes, accum_tol(53), backward_slots(10, false, true),
                          [](std::vector<Tensor>& t, const test::ParityRun&) {
                            Tensor none;
                            ops::linear_backward(t[0], t[1], t[2], none, t[3], t[4]);
                          }});
  for (size_t i = 0; i < full.size() && i < no_dx.size(); ++i) {
    EXPECT_TRUE(test::same_elements(full[i][2], no_dx[i][1])) << "db, " << dtype_name(kActDtypes[i]);
  }
}

TEST(LinearCuda, DtypeRuleChecked) {
  ATTNCAMP_REQUIRE_GPU();
  const Tensor x = Tensor::zeros({5, 3}, kBF16, Device::cuda(0));
  const Tensor w = Tensor::zeros({4, 3}, kBF16, Device::cuda(0));
  Tensor y = Tensor::zeros({5, 4}, kBF16, Device::cuda(0));
  test::expect_error([&] { ops::linear_forward(x, w, Tensor::zeros({4}, kBF16, Device::cuda(0)), y); },
                     {"linear_forward", "b", "f32"});
  test::expect_error(
      [&] {
        ops::linear_forward(x, Tensor::zeros({4, 3}, kF32, Device::cuda(0)), Tensor(), y);
      },
      {"linear_forward", "w", "bf16"});
  Tensor dx = Tensor::zeros({5, 3}, kBF16, Device::cuda(0)), db = Tensor::zeros({4}, kF32, Device::cuda(0));
  Tensor dw16 = Tensor::zeros({4, 3}, kBF16, Device::cuda(0));
  test::expect_error([&] { ops::linear_backward(y, x, w, dx, dw16, db); }, {"linear_backward", "dw", "f32"});
}

// ---------------------------------------------------------------------------- linear + GELU

double gelu64(double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }

TEST(LinearGelu, ForwardIsLinearThenExactGelu) {
  const Tensor x = test::random_tensor({2, 3, 6}, kF64, 1, -2.0, 2.0);
  const Tensor w = test::random_tensor({4, 6}, kF64, 2);
  const Tensor b = test::random_tensor({4}, kF64, 3);
  Tensor pre = Tensor::empty({2, 3, 4}, kF64), y = Tensor::empty({2, 3, 4}, kF64);
  pre.poison();
  y.poison();
  ops::linear_gelu_forward(x, w, b, pre, y);
  const Tensor pre_ref = cpu_linear(x, w, b, kF64);
  EXPECT_LE(test::max_abs_diff(pre, pre_ref), kTolF64);
  Tensor y_ref = pre_ref.clone();
  for (int64_t i = 0; i < y_ref.numel(); ++i) y_ref.data<double>()[i] = gelu64(pre_ref.data<double>()[i]);
  EXPECT_LE(test::max_abs_diff(y, y_ref), kTolF64);
}

TEST(LinearGelu, BackwardMatchesFiniteDifferences) {
  Tensor x = test::random_tensor({2, 3, 5}, kF64, 10, -2.0, 2.0);
  Tensor w = test::random_tensor({4, 5}, kF64, 11);
  Tensor b = test::random_tensor({4}, kF64, 12);
  const Tensor wt = test::random_tensor({2, 3, 4}, kF64, 13);  // upstream gradient
  Tensor pre = Tensor::empty({2, 3, 4}, kF64), y = Tensor::empty({2, 3, 4}, kF64);
  auto loss = [&] {
    ops::linear_gelu_forward(x, w, b, pre, y);
    return test::weighted_sum(y, wt);
  };
  loss();
  Tensor dx = Tensor::empty(x.shape(), kF64);
  dx.poison();
  const Tensor dw0 = test::random_tensor(w.shape(), kF64, 14), db0 = test::random_tensor(b.shape(), kF64, 15);
  Tensor dw = dw0.clone(), db = db0.clone();
  ops::linear_gelu_backward(wt, x, w, pre, dx, dw, db);
  auto minus = [](const Tensor& a, const Tensor& c) {
    Tensor d = a.clone();
    for (int64_t i = 0; i < d.numel(); ++i) d.data<double>()[i] -= c.data<double>()[i];
    return d;
  };
  EXPECT_LE(test::max_abs_diff(dx, test::numerical_gradient(loss, x)), kGradTol);
  EXPECT_LE(test::max_abs_diff(minus(dw, dw0), test::numerical_gradient(loss, w)), kGradTol);
  EXPECT_LE(test::max_abs_diff(minus(db, db0), test::numerical_gradient(loss, b)), kGradTol);
}

TEST(LinearGelu, BadArgumentsThrowOnCpu) {
  const Tensor x = Tensor::zeros({5, 3}), w = Tensor::zeros({4, 3}), b = Tensor::zeros({4});
  Tensor pre = Tensor::zeros({5, 4}), y = Tensor::zeros({5, 4});
  EXPECT_NO_THROW(ops::linear_gelu_forward(x, w, b, pre, y));
  Tensor y_bad = Tensor::zeros({5, 3});
  test::expect_error([&] { ops::linear_gelu_forward(x, w, b, pre, y_bad); }, {"linear_gelu_forward", "y"});
  Tensor pre16 = Tensor::zeros({5, 4}, kBF16);
  test::expect_error([&] { ops::linear_gelu_forward(x, w, b, pre16, y); }, {"linear_gelu_forward", "pre", "bf16"});
  Tensor dx = Tensor::zeros({5, 3}), dw = Tensor::zeros({4, 3}), db = Tensor::zeros({4});
  EXPECT_NO_THROW(ops::linear_gelu_backward(y, x, w, pre, dx, dw, db));
  test::expect_error(
      [&] {
        ops::linear_gelu_backward(y, x, w, Tensor::zeros({5, 3}), dx, dw, db);
      },
      {"linear_gelu_backward", "pre"});
}

TEST(LinearGeluParity, Forward) {
  ATTNCAMP_REQUIRE_GPU();
  // Slots x, w, pre, y, b. The references compute pre, then y from pre as the kernel stores it.
  test::check_parity({"linear_gelu_forward",
                      kActDtypes,
                      accum_tol(29),
                      {test::in("x", test::random_tensor({3, 37, 29}, kF64, 21)),
                       test::in("w", test::random_tensor({53, 29}, kF64, 22)), test::out("pre", {3, 37, 53}),
                       test::out("y", {3, 37, 53}), test::param_as_act("b", test::random_tensor({53}, kF64, 23))},
                      [](std::vector<Tensor>& t, const test::ParityRun& r) {
                        if (r.under_test) return ops::linear_gelu_forward(t[0], t[1], t[4], t[2], t[3]);
                        ops::linear_forward(t[0], t[1], t[4], t[2]);
                        Tensor pre = t[2].clone();
                        r.round_stored(pre);
                        ops::gelu_forward(pre, t[3]);
                      }});
}

TEST(LinearGeluParity, Backward) {
  ATTNCAMP_REQUIRE_GPU();
  // Slots dy, x, w, dx, dw, db, pre. Reference: dpre = dy * gelu'(pre), as the kernel stores it.
  std::vector<test::Slot> slots = backward_slots(30, true, true);
  slots.push_back(test::in("pre", test::random_tensor({3, 397, 53}, kF64, 35, -3.0, 3.0)));
  test::check_parity(
      {"linear_gelu_backward", kActDtypes, accum_tol(53), slots, [](std::vector<Tensor>& t, const test::ParityRun& r) {
         if (r.under_test) return ops::linear_gelu_backward(t[0], t[1], t[2], t[6], t[3], t[4], t[5]);
         Tensor dpre = Tensor::empty(t[6].shape(), t[6].dtype());
         ops::gelu_backward(t[6], t[0], dpre);
         r.round_stored(dpre);
         ops::linear_backward(dpre, t[1], t[2], t[3], t[4], t[5]);
       }});
}

}  // namespace
}  // namespace attncamp
