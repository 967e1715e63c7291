// GEMM and linear layers on CUDA (ops/cuda/gemm.cu, ops/cuda/linear.cu) against the CPU reference:
// every dtype combination on odd shapes (ragged tiles), transposes, batched and broadcast operands,
// outputs poisoned first. f32 is held to the CPU f32 result; bf16/f16 to STYLE's rule against the
// CPU f64 result on the rounded inputs; plans autotuned by ATTNCAMP_GEMM_AUTOTUNE=1 too. Also the
// CPU linear_gelu ops (finite differences in f64), which run without a GPU.
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

Tensor gpu_poisoned(const Shape& s, DType dt) {
  Tensor t = Tensor::empty(s, dt, Device::cuda(0));
  t.poison();
  return t;
}

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

// CPU gemm in `dt` (f32 or f64) on the f64 tensors' values; the result as f64.
Tensor cpu_gemm(const Tensor& a, bool ta, const Tensor& b, bool tb, const Tensor& c0, double alpha, double beta,
                DType dt) {
  Tensor c = test::to_dtype(c0, dt);
  ops::gemm(test::to_dtype(a, dt), ta, test::to_dtype(b, dt), tb, c, alpha, beta);
  return f64(c);
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

// Runs `g` on the GPU (through ops::gemm, or ops::cuda::gemm_naive when `naive`) and checks it.
void check_gemm(const GemmCase& g, uint64_t seed, bool naive = false) {
  const Tensor a = test::random_tensor(mat(g.ta, g.m, g.k, g.bcast == 1 ? 0 : g.batch), kF64, seed);
  const Tensor b = test::random_tensor(mat(g.tb, g.k, g.n, g.bcast == 2 ? 0 : g.batch), kF64, seed + 1);
  const Shape cs = g.batch > 0 ? Shape{g.batch, g.m, g.n} : Shape{g.m, g.n};
  // What the kernel reads: every input rounded to its dtype.
  const Tensor ar = test::round_through(a, g.ab), br = test::round_through(b, g.ab);
  const Tensor cr = test::round_through(test::random_tensor(cs, kF64, seed + 2), g.cd);

  const Tensor ga = test::to_gpu(ar, g.ab), gb = test::to_gpu(br, g.ab);
  Tensor gc = g.beta == 0 ? gpu_poisoned(cs, g.cd) : test::to_gpu(cr, g.cd);
  if (naive) {
#ifdef ATTNCAMP_WITH_CUDA
    ops::cuda::gemm_naive(params_of(ga, g.ta, gb, g.tb, gc, g.alpha, g.beta), 0);
#endif
  } else {
    ops::gemm(ga, g.ta, gb, g.tb, gc, g.alpha, g.beta);
  }
  const Tensor out = test::to_host_f64(gc);

  const Tensor ref32 = cpu_gemm(ar, g.ta, br, g.tb, cr, g.alpha, g.beta, kF32);
  if (g.ab == kF32) {
    EXPECT_LE(test::max_abs_diff(out, ref32), accum_eps(g.k)) << describe(g) << (naive ? " naive" : "");
    return;
  }
  const Tensor ref64 = cpu_gemm(ar, g.ta, br, g.tb, cr, g.alpha, g.beta, kF64);
  const double tol = test::lowp_tolerance(ref64, test::round_through(ref32, g.cd), accum_eps(g.k));
  EXPECT_LE(test::max_abs_diff(out, ref64), tol) << describe(g) << (naive ? " naive" : "");
}

const std::pair<DType, DType> kCombos[] = {{kF32, kF32}, {kBF16, kBF16}, {kBF16, kF32}, {kF16, kF16}, {kF16, kF32}};

TEST(CudaGemm, AllTransposesAndDtypesOnOddShapes) {
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

TEST(CudaGemm, AlignedShapes) {
  ATTNCAMP_REQUIRE_GPU();
  uint64_t seed = 200;
  for (const auto& [ab, cd] : kCombos) {
    check_gemm({0, 128, 96, 64, false, true, 0, ab, cd, 1.0, 0.0}, seed += 3);
    check_gemm({0, 64, 128, 256, true, false, 0, ab, cd, 1.0, 1.0}, seed += 3);  // weight-gradient form
  }
}

TEST(CudaGemm, BatchedAndBroadcast) {
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
TEST(CudaGemm, AutotunedPlansMatchCpu) {
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
TEST(CudaGemm, AutotuneFollowsTheEnvironment) {
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

TEST(CudaGemm, NaiveKernelMatchesCpu) {
  ATTNCAMP_REQUIRE_GPU();
  uint64_t seed = 400;
  for (const auto& [ab, cd] : kCombos) {
    check_gemm({0, 37, 53, 29, true, false, 0, ab, cd, 0.5, -1.5}, seed += 3, true);
    check_gemm({5, 19, 23, 31, false, true, 2, ab, cd, 1.0, 0.0}, seed += 3, true);
  }
}

TEST(CudaGemm, EmptyKAndEmptyOutput) {
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

TEST(CudaGemm, DtypeRuleAndDevicesChecked) {
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

// Expects the GPU output `out` to match: f32 within `f32_tol` of the CPU f32 result; 16-bit by
// STYLE's rule (ref_lowp: the CPU f32 result rounded to `out_dt`).
void expect_close(const Tensor& gpu, const Tensor& ref64, const Tensor& ref32, DType act, DType out_dt, double eps,
                  const std::string& what) {
  const Tensor out = test::to_host_f64(gpu);
  if (act == kF32) {
    EXPECT_LE(test::max_abs_diff(out, ref32), eps) << what;
  } else {
    const double tol = test::lowp_tolerance(ref64, test::round_through(ref32, out_dt), eps);
    EXPECT_LE(test::max_abs_diff(out, ref64), tol) << what << " (" << dtype_name(act) << ")";
  }
}

Tensor cpu_linear(const Tensor& x, const Tensor& w, const Tensor& b, DType dt) {
  Shape ys = x.shape();
  ys.back() = w.size(0);
  Tensor y = Tensor::empty(ys, dt);
  ops::linear_forward(test::to_dtype(x, dt), test::to_dtype(w, dt), b.defined() ? test::to_dtype(b, dt) : Tensor(), y);
  return f64(y);
}

TEST(CudaLinear, ForwardMatchesCpu) {
  ATTNCAMP_REQUIRE_GPU();
  for (DType act : {kF32, kBF16, kF16}) {
    for (bool with_bias : {true, false}) {
      const Tensor x = test::round_through(test::random_tensor({3, 37, 29}, kF64, 1), act);
      const Tensor w = test::round_through(test::random_tensor({53, 29}, kF64, 2), act);
      const Tensor b = with_bias ? test::round_through(test::random_tensor({53}, kF64, 3), kF32) : Tensor();
      Tensor y = gpu_poisoned({3, 37, 53}, act);
      ops::linear_forward(test::to_gpu(x, act), test::to_gpu(w, act), with_bias ? test::to_gpu(b, kF32) : Tensor(), y);
      // With a 16-bit y the bias is rounded to y's dtype before it is added (ops/linear.h).
      const Tensor br = with_bias ? test::round_through(b, act) : Tensor();
      expect_close(y, cpu_linear(x, w, br, kF64), cpu_linear(x, w, br, kF32), act, act, accum_eps(29),
                   with_bias ? "y with bias" : "y without bias");
    }
  }
}

// Backward inputs rounded to the activation dtype; dw0/db0 are f32 values.
struct BackwardInputs {
  Tensor x, w, dy, dw0, db0;
};
BackwardInputs backward_inputs(DType act, uint64_t seed) {
  return {test::round_through(test::random_tensor({3, 397, 29}, kF64, seed), act),  // 1191 rows: 3 db chunks
          test::round_through(test::random_tensor({53, 29}, kF64, seed + 1), act),
          test::round_through(test::random_tensor({3, 397, 53}, kF64, seed + 2), act),
          test::round_through(test::random_tensor({53, 29}, kF64, seed + 3), kF32),
          test::round_through(test::random_tensor({53}, kF64, seed + 4), kF32)};
}

// CPU linear_backward in `dt` on the f64 inputs; {dx, dw, db} as f64.
std::vector<Tensor> cpu_linear_backward(const BackwardInputs& in, const Tensor& dy, DType dt) {
  Tensor dx = Tensor::empty(in.x.shape(), dt);
  Tensor dw = test::to_dtype(in.dw0, dt), db = test::to_dtype(in.db0, dt);
  ops::linear_backward(test::to_dtype(dy, dt), test::to_dtype(in.x, dt), test::to_dtype(in.w, dt), dx, dw, db);
  return {f64(dx), f64(dw), f64(db)};
}

TEST(CudaLinear, BackwardMatchesCpuAndDbIsDeterministic) {
  ATTNCAMP_REQUIRE_GPU();
  for (DType act : {kF32, kBF16, kF16}) {
    const BackwardInputs in = backward_inputs(act, 10);
    Tensor dx = gpu_poisoned(in.x.shape(), act);
    Tensor dw = test::to_gpu(in.dw0, kF32), db = test::to_gpu(in.db0, kF32);
    ops::linear_backward(test::to_gpu(in.dy, act), test::to_gpu(in.x, act), test::to_gpu(in.w, act), dx, dw, db);
    const auto ref64 = cpu_linear_backward(in, in.dy, kF64), ref32 = cpu_linear_backward(in, in.dy, kF32);
    expect_close(dx, ref64[0], ref32[0], act, act, accum_eps(53), "dx");
    expect_close(dw, ref64[1], ref32[1], act, kF32, accum_eps(1191), "dw");
    expect_close(db, ref64[2], ref32[2], act, kF32, accum_eps(1191), "db");

    // Undefined dx and db are skipped; db sums the same way every time.
    Tensor none;
    Tensor dw2 = test::to_gpu(in.dw0, kF32), dw3 = test::to_gpu(in.dw0, kF32), db2 = test::to_gpu(in.db0, kF32);
    ops::linear_backward(test::to_gpu(in.dy, act), test::to_gpu(in.x, act), test::to_gpu(in.w, act), none, dw2, none);
    ops::linear_backward(test::to_gpu(in.dy, act), test::to_gpu(in.x, act), test::to_gpu(in.w, act), none, dw3, db2);
    EXPECT_EQ(test::max_abs_diff(test::to_host_f64(db2), test::to_host_f64(db)), 0.0);
    expect_close(dw2, ref64[1], ref32[1], act, kF32, accum_eps(1191), "dw without dx, db");
  }
}

TEST(CudaLinear, DtypeRuleChecked) {
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

// CPU reference of the CUDA linear_gelu in `dt`: pre, then y from pre as stored in `act`.
std::vector<Tensor> cpu_linear_gelu(const Tensor& x, const Tensor& w, const Tensor& b, DType act, DType dt) {
  const Tensor pre = cpu_linear(x, w, b, dt);
  Tensor pre_in = test::to_dtype(dt == kF64 ? pre : test::round_through(pre, act), dt);
  Tensor y = Tensor::empty(pre.shape(), dt);
  ops::gelu_forward(pre_in, y);
  return {pre, f64(y)};
}

TEST(CudaLinearGelu, ForwardMatchesCpu) {
  ATTNCAMP_REQUIRE_GPU();
  for (DType act : {kF32, kBF16, kF16}) {
    const Tensor x = test::round_through(test::random_tensor({3, 37, 29}, kF64, 21), act);
    const Tensor w = test::round_through(test::random_tensor({53, 29}, kF64, 22), act);
    const Tensor b = test::round_through(test::random_tensor({53}, kF64, 23), kF32);
    Tensor pre = gpu_poisoned({3, 37, 53}, act), y = gpu_poisoned({3, 37, 53}, act);
    ops::linear_gelu_forward(test::to_gpu(x, act), test::to_gpu(w, act), test::to_gpu(b, kF32), pre, y);
    const Tensor br = test::round_through(b, act);
    const auto ref64 = cpu_linear_gelu(x, w, br, act, kF64), ref32 = cpu_linear_gelu(x, w, br, act, kF32);
    expect_close(pre, ref64[0], ref32[0], act, act, accum_eps(29), "pre");
    expect_close(y, ref64[1], ref32[1], act, act, accum_eps(29), "y");
  }
}

TEST(CudaLinearGelu, BackwardMatchesCpu) {
  ATTNCAMP_REQUIRE_GPU();
  for (DType act : {kF32, kBF16, kF16}) {
    const BackwardInputs in = backward_inputs(act, 30);
    const Tensor pre = test::round_through(test::random_tensor(in.dy.shape(), kF64, 35, -3.0, 3.0), act);
    Tensor dx = gpu_poisoned(in.x.shape(), act);
    Tensor dw = test::to_gpu(in.dw0, kF32), db = test::to_gpu(in.db0, kF32);
    ops::linear_gelu_backward(test::to_gpu(in.dy, act), test::to_gpu(in.x, act), test::to_gpu(in.w, act),
                              test::to_gpu(pre, act), dx, dw, db);
    // Reference: dpre = dy * gelu'(pre) (rounded to `act` for the lowp one, as the kernel stores it).
    auto dpre = [&](DType dt) {
      Tensor d = Tensor::empty(pre.shape(), dt);
      ops::gelu_backward(test::to_dtype(pre, dt), test::to_dtype(in.dy, dt), d);
      return dt == kF64 ? d : test::round_through(d, act);
    };
    const auto ref64 = cpu_linear_backward(in, dpre(kF64), kF64), ref32 = cpu_linear_backward(in, dpre(kF32), kF32);
    expect_close(dx, ref64[0], ref32[0], act, act, accum_eps(53), "dx");
    expect_close(dw, ref64[1], ref32[1], act, kF32, accum_eps(1191), "dw");
    expect_close(db, ref64[2], ref32[2], act, kF32, accum_eps(1191), "db");
  }
}

}  // namespace
}  // namespace attncamp
