// Parity tests of the CUDA layer norm (plain and residual), cross-entropy, reductions, gradient
// clipping and optimizer steps against their CPU references: f32 kernels against CPU f32 with
// tight tolerances, bf16 kernels against CPU f64 by STYLE's rule, on ragged sizes with poisoned
// outputs. GPU tests skip (saying why) without one; the last tests check the CPU side of the
// optimizer's compute copy and grad_scale and need no GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "ops/clip_grad.h"
#include "ops/cross_entropy.h"
#include "ops/layernorm.h"
#include "ops/optimizer.h"
#include "ops/reduce.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::max_abs;
using test::round_through;
using test::to_dtype;
using test::to_gpu;
using test::to_host_f64;

constexpr double kLnEps = 1e-5;
constexpr double kF32Rel = 2e-5;   // f32 kernel vs CPU f32: max|diff| <= kF32Rel * (1 + max|ref|)
constexpr double kLowpRel = 1e-5;  // eps of the bf16 rule: kLowpRel * (1 + max|ref64|)
constexpr double kSumRel = 1e-12;  // double-accumulated sums, relative to the sum of |x|
constexpr double kOptRel = 1e-6;   // optimizer f32 vs CPU f32 (contracted multiply-adds differ by ulps)

Tensor gpu_out(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype, Device::cuda(0));
  t.poison();
  return t;
}

// Like to_gpu, but the data starts `offset` elements into its allocation (offset 3: not 16-byte
// aligned, so the kernels must use scalar accesses). t: contiguous CPU f32.
Tensor to_gpu_at(const Tensor& t, DType dtype, int64_t offset) {
  Tensor flat = Tensor::zeros({offset + t.numel()});
  std::memcpy(flat.data<float>() + offset, t.data<float>(), t.nbytes());
  return to_gpu(flat, dtype).slice(offset, offset + t.numel()).view(t.shape());
}

// Values of a floating-point tensor on any device, in dtype `cdt` (f32 or f64) on the CPU, after
// rounding through `via` (what a kernel of dtype `via` reads).
Tensor host_in(const Tensor& t, DType via, DType cdt) { return to_dtype(round_through(to_host_f64(t), via), cdt); }

void expect_f32(const Tensor& out, const Tensor& ref, double rel, const std::string& what) {
  const Tensor r = to_host_f64(ref);
  EXPECT_LE(test::max_abs_diff(to_host_f64(out), r), rel * (1.0 + max_abs(r))) << what;
}

// STYLE's rule max|out - ref64| <= 2 max|ref_lowp - ref64| + eps.
void expect_lowp(const Tensor& out, const Tensor& ref64, const Tensor& ref_lowp, const std::string& what) {
  const Tensor r64 = to_host_f64(ref64);
  const double tol = test::lowp_tolerance(r64, to_host_f64(ref_lowp), kLowpRel * (1.0 + max_abs(r64)));
  EXPECT_LE(test::max_abs_diff(to_host_f64(out), r64), tol) << what;
}

std::string name(const char* op, int64_t rows, int64_t cols, DType dt) {
  return std::string(op) + " " + std::to_string(rows) + "x" + std::to_string(cols) + " " + dtype_name(dt);
}

struct RowsCols {
  int64_t rows, cols;
};
// Warp rows with scalar and vector accesses, the 1024 boundary, block rows (ragged and vector),
// and enough rows for several dgamma/dbeta chunks.
constexpr RowsCols kLnCases[] = {{37, 7}, {19, 384}, {33, 1024}, {5, 1030}, {6, 2048}, {1000, 96}};

struct LnOut {
  Tensor sum, y, mean, rstd;
};

// CPU forward in `cdt` on inputs rounded through `dt`; with round_sum the residual sum is rounded
// to `dt` before it is normalised (what a kernel that stores sum_out in `dt` normalises).
LnOut cpu_ln_forward(const Tensor& x, const Tensor* res, const Tensor& gamma, const Tensor& beta, DType dt, DType cdt,
                     bool round_sum) {
  const int64_t rows = x.size(0);
  LnOut o{Tensor::empty(x.shape(), cdt), Tensor::empty(x.shape(), cdt), Tensor::empty({rows}, cdt),
          Tensor::empty({rows}, cdt)};
  const Tensor xc = host_in(x, dt, cdt), g = to_dtype(gamma, cdt), b = to_dtype(beta, cdt);
  if (res == nullptr) {
    ops::layernorm_forward(xc, g, b, kLnEps, o.y, o.mean, o.rstd);
    return o;
  }
  ops::add_layernorm_forward(xc, host_in(*res, dt, cdt), g, b, kLnEps, o.sum, o.y, o.mean, o.rstd);
  if (round_sum) {
    o.sum = host_in(o.sum, dt, cdt);
    ops::layernorm_forward(o.sum, g, b, kLnEps, o.y, o.mean, o.rstd);
  }
  return o;
}

// misaligned: activations start 3 elements into their allocations.
void ln_forward_case(int64_t rows, int64_t cols, bool residual, DType dt, bool misaligned = false) {
  const std::string what = name(residual ? "add_layernorm_forward" : "layernorm_forward", rows, cols, dt) +
                           (misaligned ? " misaligned" : "");
  auto up = [&](const Tensor& t) { return misaligned ? to_gpu_at(t, dt, 3) : to_gpu(t, dt); };
  const Tensor x = test::random_tensor({rows, cols}, DType::kF32, 100 + cols, -2.0, 3.0);
  const Tensor res = test::random_tensor({rows, cols}, DType::kF32, 200 + cols);
  const Tensor gamma = test::random_tensor({cols}, DType::kF32, 300 + cols, 0.5, 1.5);
  const Tensor beta = test::random_tensor({cols}, DType::kF32, 400 + cols);
  Tensor gsum = gpu_out({rows, cols}, dt), gy = gpu_out({rows, cols}, dt);
  Tensor gmean = gpu_out({rows}, DType::kF32), grstd = gpu_out({rows}, DType::kF32);
  const Tensor gg = to_gpu(gamma, DType::kF32), gb = to_gpu(beta, DType::kF32);
  if (residual) {
    ops::add_layernorm_forward(up(x), up(res), gg, gb, kLnEps, gsum, gy, gmean, grstd);
  } else {
    ops::layernorm_forward(up(x), gg, gb, kLnEps, gy, gmean, grstd);
  }
  const Tensor* r = residual ? &res : nullptr;
  if (dt == DType::kF32) {
    const LnOut ref = cpu_ln_forward(x, r, gamma, beta, dt, DType::kF32, false);
    expect_f32(gy, ref.y, kF32Rel, what + " y");
    expect_f32(gmean, ref.mean, kF32Rel, what + " mean");
    expect_f32(grstd, ref.rstd, kF32Rel, what + " rstd");
    if (residual) {
      EXPECT_EQ(test::max_abs_diff(to_host_f64(gsum), ref.sum), 0.0) << what;
    }
    return;
  }
  const LnOut r64 = cpu_ln_forward(x, r, gamma, beta, dt, DType::kF64, false);
  const LnOut lowp = cpu_ln_forward(x, r, gamma, beta, dt, DType::kF32, true);
  expect_lowp(gy, r64.y, round_through(lowp.y, dt), what + " y");
  expect_lowp(gmean, r64.mean, lowp.mean, what + " mean");
  expect_lowp(grstd, r64.rstd, lowp.rstd, what + " rstd");
  if (residual) {
    EXPECT_EQ(test::max_abs_diff(to_host_f64(gsum), lowp.sum), 0.0) << what;  // the same rounded sum
  }
}

struct LnGrads {
  Tensor dx, dgamma, dbeta;
};

// CPU backward in `cdt` on inputs rounded through `dt`; dsum (residual form) may be undefined.
LnGrads cpu_ln_backward(const Tensor& dy, const Tensor& x, const Tensor& dsum, const Tensor& gamma, const Tensor& mean,
                        const Tensor& rstd, const Tensor& dg0, const Tensor& db0, DType dt, DType cdt) {
  LnGrads o{Tensor::empty(x.shape(), cdt), to_dtype(dg0, cdt), to_dtype(db0, cdt)};
  const Tensor d = dsum.defined() ? host_in(dsum, dt, cdt) : Tensor();
  ops::add_layernorm_backward(host_in(dy, dt, cdt), d, host_in(x, dt, cdt), to_dtype(gamma, cdt), to_dtype(mean, cdt),
                              to_dtype(rstd, cdt), o.dx, o.dgamma, o.dbeta);
  return o;
}

void ln_backward_case(int64_t rows, int64_t cols, bool residual, DType dt, bool misaligned = false) {
  const std::string what = name(residual ? "add_layernorm_backward" : "layernorm_backward", rows, cols, dt) +
                           (misaligned ? " misaligned" : "");
  auto up = [&](const Tensor& t) { return misaligned ? to_gpu_at(t, dt, 3) : to_gpu(t, dt); };
  const Tensor x = test::random_tensor({rows, cols}, DType::kF32, 500 + cols, -2.0, 3.0);
  const Tensor dy = test::random_tensor({rows, cols}, DType::kF32, 600 + cols);
  const Tensor dsum = residual ? test::random_tensor({rows, cols}, DType::kF32, 700 + cols) : Tensor();
  const Tensor gamma = test::random_tensor({cols}, DType::kF32, 800 + cols, 0.5, 1.5);
  const Tensor dg0 = test::random_tensor({cols}, DType::kF32, 900 + cols);
  const Tensor db0 = test::random_tensor({cols}, DType::kF32, 1000 + cols);
  // Statistics of the rounded x from the f64 forward, as f32: the same inputs for every side.
  const LnOut st = cpu_ln_forward(x, nullptr, gamma, Tensor::zeros({cols}), dt, DType::kF64, false);
  const Tensor mean = to_dtype(st.mean, DType::kF32), rstd = to_dtype(st.rstd, DType::kF32);
  Tensor gdx = gpu_out({rows, cols}, dt), gdg = to_gpu(dg0, DType::kF32), gdb = to_gpu(db0, DType::kF32);
  const Tensor gdsum = residual ? up(dsum) : Tensor();
  if (residual) {
    ops::add_layernorm_backward(up(dy), gdsum, up(x), to_gpu(gamma, DType::kF32), to_gpu(mean, DType::kF32),
                                to_gpu(rstd, DType::kF32), gdx, gdg, gdb);
  } else {
    ops::layernorm_backward(up(dy), up(x), to_gpu(gamma, DType::kF32), to_gpu(mean, DType::kF32),
                            to_gpu(rstd, DType::kF32), gdx, gdg, gdb);
  }
  if (dt == DType::kF32) {
    const LnGrads ref = cpu_ln_backward(dy, x, dsum, gamma, mean, rstd, dg0, db0, dt, DType::kF32);
    expect_f32(gdx, ref.dx, kF32Rel, what + " dx");
    expect_f32(gdg, ref.dgamma, kF32Rel, what + " dgamma");
    expect_f32(gdb, ref.dbeta, kF32Rel, what + " dbeta");
    return;
  }
  const LnGrads r64 = cpu_ln_backward(dy, x, dsum, gamma, mean, rstd, dg0, db0, dt, DType::kF64);
  const LnGrads lowp = cpu_ln_backward(dy, x, dsum, gamma, mean, rstd, dg0, db0, dt, DType::kF32);
  expect_lowp(gdx, r64.dx, round_through(lowp.dx, dt), what + " dx");
  expect_lowp(gdg, r64.dgamma, lowp.dgamma, what + " dgamma");
  expect_lowp(gdb, r64.dbeta, lowp.dbeta, what + " dbeta");
}

TEST(CudaLayerNorm, ForwardMatchesCpu) {
  ATTNCAMP_REQUIRE_GPU();
  for (const RowsCols& c : kLnCases) {
    for (DType dt : {DType::kF32, DType::kBF16}) {
      ln_forward_case(c.rows, c.cols, false, dt);
      ln_forward_case(c.rows, c.cols, true, dt);
    }
  }
}

TEST(CudaLayerNorm, BackwardMatchesCpu) {
  ATTNCAMP_REQUIRE_GPU();
  for (const RowsCols& c : kLnCases) {
    for (DType dt : {DType::kF32, DType::kBF16}) {
      ln_backward_case(c.rows, c.cols, false, dt);
      ln_backward_case(c.rows, c.cols, true, dt);
    }
  }
}

TEST(CudaLayerNorm, MisalignedViewsMatchCpu) {
  ATTNCAMP_REQUIRE_GPU();
  for (DType dt : {DType::kF32, DType::kBF16}) {
    for (bool residual : {false, true}) {
      ln_forward_case(9, 64, residual, dt, true);
      ln_backward_case(9, 64, residual, dt, true);
    }
  }
}

TEST(CudaLayerNorm, ManyRowsUseEveryGridStrideAndChunk) {
  ATTNCAMP_REQUIRE_GPU();
  ln_forward_case(530000, 3, false, DType::kF32);  // more rows than warps in the grid
  ln_backward_case(530000, 3, false, DType::kF32);
}

TEST(CudaLayerNorm, ParameterGradientsAreDeterministic) {
  ATTNCAMP_REQUIRE_GPU();
  const int64_t rows = 3000, cols = 200;
  const Tensor x = to_gpu(test::random_tensor({rows, cols}, DType::kF32, 30, -2.0, 2.0), DType::kBF16);
  const Tensor dy = to_gpu(test::random_tensor({rows, cols}, DType::kF32, 31), DType::kBF16);
  const Tensor gamma = to_gpu(test::random_tensor({cols}, DType::kF32, 32), DType::kF32);
  Tensor y = gpu_out({rows, cols}, DType::kBF16), mean = gpu_out({rows}, DType::kF32),
         rstd = gpu_out({rows}, DType::kF32);
  ops::layernorm_forward(x, gamma, Tensor::zeros({cols}, DType::kF32, Device::cuda(0)), kLnEps, y, mean, rstd);
  Tensor first[2];
  for (int run = 0; run < 2; ++run) {
    Tensor dx = gpu_out({rows, cols}, DType::kBF16);
    Tensor dg = Tensor::zeros({cols}, DType::kF32, Device::cuda(0)),
           db = Tensor::zeros({cols}, DType::kF32, Device::cuda(0));
    ops::layernorm_backward(dy, x, gamma, mean, rstd, dx, dg, db);
    if (run == 0) {
      first[0] = dg.to(Device::cpu());
      first[1] = db.to(Device::cpu());
    } else {
      EXPECT_EQ(std::memcmp(first[0].raw_data(), dg.to(Device::cpu()).raw_data(), first[0].nbytes()), 0);
      EXPECT_EQ(std::memcmp(first[1].raw_data(), db.to(Device::cpu()).raw_data(), first[1].nbytes()), 0);
    }
  }
}

// Labels (r * 7 + 3) % C, with every fifth row ignored (-1).
Tensor ce_labels(int64_t rows, int64_t cols) {
  Tensor t = Tensor::empty({rows}, DType::kI32);
  for (int64_t r = 0; r < rows; ++r) t.data<int32_t>()[r] = r % 5 == 2 ? -1 : static_cast<int32_t>((r * 7 + 3) % cols);
  return t;
}

struct CeOut {
  Tensor losses, dlogits;
};

CeOut cpu_ce(const Tensor& logits, const Tensor& labels, DType dt, DType cdt, double smoothing, double scale) {
  const Tensor l = host_in(logits, dt, cdt);
  CeOut o{Tensor::empty({l.size(0)}, cdt), Tensor::empty(l.shape(), cdt)};
  ops::cross_entropy_forward_backward(l, labels, smoothing, scale, o.losses, o.dlogits);
  return o;
}

constexpr RowsCols kCeCases[] = {{37, 10}, {13, 1000}, {9, 1024}, {5, 3001}};

TEST(CudaCrossEntropy, MatchesCpu) {
  ATTNCAMP_REQUIRE_GPU();
  const double smoothing = 0.1, scale = 0.5;
  for (const RowsCols& c : kCeCases) {
    for (DType dt : {DType::kF32, DType::kBF16}) {
      const std::string what = name("cross_entropy", c.rows, c.cols, dt);
      const Tensor logits = test::random_tensor({c.rows, c.cols}, DType::kF32, 40 + c.cols, -4.0, 4.0);
      const Tensor labels = ce_labels(c.rows, c.cols);
      Tensor losses = gpu_out({c.rows}, DType::kF32), dlogits = gpu_out({c.rows, c.cols}, dt);
      ops::cross_entropy_forward_backward(to_gpu(logits, dt), labels.to(Device::cuda(0)), smoothing, scale, losses,
                                          dlogits);
      if (dt == DType::kF32) {
        const CeOut ref = cpu_ce(logits, labels, dt, DType::kF32, smoothing, scale);
        expect_f32(losses, ref.losses, kF32Rel, what + " losses");
        expect_f32(dlogits, ref.dlogits, kF32Rel, what + " dlogits");
      } else {
        const CeOut r64 = cpu_ce(logits, labels, dt, DType::kF64, smoothing, scale);
        const CeOut lowp = cpu_ce(logits, labels, dt, DType::kF32, smoothing, scale);
        expect_lowp(losses, r64.losses, lowp.losses, what + " losses");
        expect_lowp(dlogits, r64.dlogits, round_through(lowp.dlogits, dt), what + " dlogits");
      }
      const Tensor hl = to_host_f64(losses), hg = to_host_f64(dlogits);
      for (int64_t r = 2; r < c.rows; r += 5) {  // ignored rows: exact zeros
        EXPECT_EQ(hl.data<double>()[r], 0.0) << what;
        for (int64_t k = 0; k < c.cols; ++k) ASSERT_EQ(hg.data<double>()[r * c.cols + k], 0.0) << what;
      }
    }
  }
}

TEST(CudaCrossEntropy, LossOnlyIsDeterministicAndBadLabelsThrow) {
  ATTNCAMP_REQUIRE_GPU();
  const int64_t rows = 300, cols = 1500;
  const Tensor logits = to_gpu(test::random_tensor({rows, cols}, DType::kF32, 50, -6.0, 6.0), DType::kBF16);
  const Tensor labels = ce_labels(rows, cols).to(Device::cuda(0));
  Tensor a = gpu_out({rows}, DType::kF32), b = gpu_out({rows}, DType::kF32), none;
  ops::cross_entropy_forward_backward(logits, labels, 0.0, 1.0, a, none);
  ops::cross_entropy_forward_backward(logits, labels, 0.0, 1.0, b, none);
  EXPECT_EQ(std::memcmp(a.to(Device::cpu()).raw_data(), b.to(Device::cpu()).raw_data(), a.nbytes()), 0);
  EXPECT_EQ(ops::sum(a), ops::sum(b));
  Tensor bad = ce_labels(rows, cols);
  bad.data<int32_t>()[7] = static_cast<int32_t>(cols);
  bad.data<int32_t>()[9] = -3;
  test::expect_error([&] { ops::cross_entropy_forward_backward(logits, bad.to(Device::cuda(0)), 0.0, 1.0, a, none); },
                     {"label 1500 at index 7", "outside [0, 1500)"});
}

// Small integers (ties everywhere, exact in bf16) with a NaN in every fourth row.
Tensor tie_logits(int64_t rows, int64_t cols, uint64_t seed) {
  Tensor t = test::random_tensor({rows, cols}, DType::kF32, seed, -4.0, 5.0);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::floor(t.data<float>()[i]);
  for (int64_t r = 1; r < rows; r += 4) t.data<float>()[r * cols + (r * 3) % cols] = NAN;
  return t;
}

// Equal element for element, NaN matching NaN.
bool same_values(const Tensor& a, const Tensor& b) {
  const Tensor x = to_host_f64(a), y = to_host_f64(b);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double u = x.data<double>()[i], v = y.data<double>()[i];
    if (!(u == v || (std::isnan(u) && std::isnan(v)))) return false;
  }
  return true;
}

bool same_ints(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(Device::cpu()), y = b.to(Device::cpu());
  return std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

TEST(CudaReduce, SumAndMeanMatchCpu) {
  ATTNCAMP_REQUIRE_GPU();
  for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{300001}}) {
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
      const Tensor x = test::random_tensor({n}, DType::kF32, 60 + n, -1.0, 2.0);
      const Tensor xr = round_through(x, dt);  // the values the kernel sums, exactly
      const Tensor g = to_gpu(x, dt);
      double abs_sum = 0;
      for (int64_t i = 0; i < n; ++i) abs_sum += std::fabs(xr.data<double>()[i]);
      const double got = ops::sum(g);
      EXPECT_NEAR(got, ops::sum(xr), kSumRel * (1.0 + abs_sum)) << name("sum", 1, n, dt);
      EXPECT_EQ(ops::sum(g), got) << "sum must be deterministic";
      EXPECT_NEAR(ops::mean(g), ops::mean(xr), kSumRel * (1.0 + abs_sum)) << name("mean", 1, n, dt);
    }
  }
  EXPECT_EQ(ops::sum(Tensor::empty({0}, DType::kF32, Device::cuda(0))), 0.0);
  EXPECT_THROW(ops::mean(Tensor::empty({0}, DType::kF32, Device::cuda(0))), Error);
}

TEST(CudaReduce, ArgmaxTopkAndTopkCountsMatchCpu) {
  ATTNCAMP_REQUIRE_GPU();
  const int64_t rows = 37;
  for (int64_t cols : {int64_t{7}, int64_t{1000}}) {
    const Tensor x = tie_logits(rows, cols, 70 + cols);
    Tensor labels = Tensor::empty({rows}, DType::kI32);
    for (int64_t r = 0; r < rows; ++r)
      labels.data<int32_t>()[r] = r % 6 == 0 ? -1 : static_cast<int32_t>((r * 5 + 1) % cols);
    const Tensor glabels = labels.to(Device::cuda(0));
    Tensor idx = Tensor::empty({rows}, DType::kI32);
    ops::argmax(x, idx);
    for (DType dt : {DType::kF32, DType::kBF16}) {
      const std::string what = name("reduce", rows, cols, dt);
      const Tensor gx = to_gpu(x, dt);
      Tensor gidx = gpu_out({rows}, DType::kI32);
      ops::argmax(gx, gidx);
      EXPECT_TRUE(same_ints(gidx, idx)) << what << " argmax";
      for (int k : {1, 3, 5, static_cast<int>(cols)}) {
        Tensor vals = Tensor::empty({rows, k}, DType::kF32), tidx = Tensor::empty({rows, k}, DType::kI32);
        ops::topk(x, k, vals, tidx);
        Tensor gvals = gpu_out({rows, k}, dt), gtidx = gpu_out({rows, k}, DType::kI32);
        ops::topk(gx, k, gvals, gtidx);
        EXPECT_TRUE(same_ints(gtidx, tidx)) << what << " topk k=" << k;
        EXPECT_TRUE(same_values(gvals, vals)) << what << " topk k=" << k;
        EXPECT_EQ(ops::count_topk_correct(gx, glabels, k), ops::count_topk_correct(x, labels, k))
            << what << " count k=" << k;
      }
    }
    Tensor bad = labels.clone();
    bad.data<int32_t>()[2] = static_cast<int32_t>(cols) + 2;
    test::expect_error([&] { ops::count_topk_correct(to_gpu(x, DType::kF32), bad.to(Device::cuda(0)), 1); },
                       {"label " + std::to_string(cols + 2) + " at index 2"});
  }
}

TEST(CudaClipGrad, NormAndClippingMatchCpu) {
  ATTNCAMP_REQUIRE_GPU();
  const int64_t n = 100003;
  const Tensor g = test::random_tensor({n}, DType::kF32, 80);
  const double want = ops::global_norm(g);
  Tensor dev = to_gpu(g, DType::kF32);
  const double norm = ops::global_norm(dev);
  EXPECT_NEAR(norm, want, kSumRel * want);
  EXPECT_EQ(ops::global_norm(dev), norm) << "norm must be deterministic";
  EXPECT_EQ(ops::clip_grad_norm_(dev, 2.0 * want), norm);  // below max_norm: untouched
  EXPECT_TRUE(same_values(dev, g));
  Tensor host = g.clone();
  ops::clip_grad_norm_(host, 1.0);
  EXPECT_EQ(ops::clip_grad_norm_(dev, 1.0), norm);
  expect_f32(dev, host, 1e-6, "clip_grad_norm_ scale");
  for (float bad : {INFINITY, NAN}) {
    Tensor h = g.clone();
    h.data<float>()[12345] = bad;
    Tensor d = to_gpu(h, DType::kF32);
    const double r = ops::clip_grad_norm_(d, 1.0);
    EXPECT_FALSE(std::isfinite(r));
    EXPECT_EQ(std::isnan(r), std::isnan(bad));
    EXPECT_TRUE(same_values(d, h)) << "a non-finite norm must leave the gradients alone";
  }
}

Tensor make_mask(int64_t n) {
  Tensor m = Tensor::empty({n}, DType::kU8);
  for (int64_t i = 0; i < n; ++i) m.data<uint8_t>()[i] = (i % 3 == 0) ? 0 : 1;
  return m;
}

Tensor gpu_zeros(int64_t n) { return Tensor::zeros({n}, DType::kF32, Device::cuda(0)); }

TEST(CudaOptimizer, AdamWMatchesCpuAndWritesComputeCopy) {
  ATTNCAMP_REQUIRE_GPU();
  const int64_t n = 100003;
  Tensor params = test::random_tensor({n}, DType::kF32, 90);
  Tensor m = Tensor::zeros({n}), v = Tensor::zeros({n});
  const Tensor mask = make_mask(n);
  Tensor gp = to_gpu(params, DType::kF32), gm = gpu_zeros(n), gv = gpu_zeros(n), gmask = mask.to(Device::cuda(0));
  ops::AdamWParams p;
  p.lr = 3e-3;
  p.beta1 = 0.8;
  p.beta2 = 0.95;
  p.eps = 1e-6;
  p.weight_decay = 0.05;
  p.grad_scale = 0.5;
  for (int64_t step = 1; step <= 3; ++step) {
    const Tensor grads = test::random_tensor({n}, DType::kF32, 90 + step, -2.0, 2.0);
    p.step = step;
    ops::adamw_step(params, grads, m, v, mask, p);
    Tensor copy = gpu_out({n}, DType::kBF16);
    ops::adamw_step(gp, to_gpu(grads, DType::kF32), gm, gv, gmask, p, &copy);
    EXPECT_EQ(test::max_abs_diff(to_host_f64(copy), round_through(to_host_f64(gp), DType::kBF16)), 0.0);
  }
  expect_f32(gp, params, kOptRel, "adamw params");
  expect_f32(gm, m, kOptRel, "adamw m");
  expect_f32(gv, v, kOptRel, "adamw v");
}

TEST(CudaOptimizer, SgdMatchesCpuAndWritesComputeCopy) {
  ATTNCAMP_REQUIRE_GPU();
  const int64_t n = 100003;
  for (double momentum : {0.0, 0.9}) {
    Tensor params = test::random_tensor({n}, DType::kF32, 95);
    Tensor buf = Tensor::zeros({n}), none;
    const Tensor mask = make_mask(n);
    Tensor gp = to_gpu(params, DType::kF32), gbuf = gpu_zeros(n), gmask = mask.to(Device::cuda(0));
    ops::SgdParams p;
    p.lr = 0.05;
    p.momentum = momentum;
    p.weight_decay = 0.01;
    p.nesterov = momentum != 0;
    p.grad_scale = 2.0;
    for (int64_t step = 1; step <= 3; ++step) {
      const Tensor grads = test::random_tensor({n}, DType::kF32, 95 + step);
      ops::sgd_step(params, grads, momentum != 0 ? buf : none, mask, p, step == 1);
      Tensor copy = gpu_out({n}, DType::kF16);
      ops::sgd_step(gp, to_gpu(grads, DType::kF32), momentum != 0 ? gbuf : none, gmask, p, step == 1, &copy);
      EXPECT_EQ(test::max_abs_diff(to_host_f64(copy), round_through(to_host_f64(gp), DType::kF16)), 0.0);
    }
    expect_f32(gp, params, kOptRel, "sgd params");
    if (momentum != 0) expect_f32(gbuf, buf, kOptRel, "sgd momentum buffer");
  }
}

// CPU side of the optimizer additions (no GPU needed).
TEST(OptimizerComputeCopy, CpuCopyHoldsTheRoundedParams) {
  const int64_t n = 1037;
  for (DType dt : {DType::kBF16, DType::kF16, DType::kF32, DType::kF64}) {
    Tensor params = test::random_tensor({n}, DType::kF32, 1), m = Tensor::zeros({n}), v = Tensor::zeros({n});
    Tensor copy = Tensor::empty({n}, dt);
    copy.poison();
    ops::adamw_step(params, test::random_tensor({n}, DType::kF32, 2), m, v, make_mask(n), ops::AdamWParams{}, &copy);
    EXPECT_EQ(test::max_abs_diff(copy, to_dtype(params, dt)), 0.0) << dtype_name(dt);
  }
  Tensor params = test::random_tensor({n}, DType::kF64, 3), none, copy = Tensor::empty({n}, DType::kBF16);
  ops::sgd_step(params, test::random_tensor({n}, DType::kF64, 4), none, Tensor(), ops::SgdParams{}, true, &copy);
  EXPECT_EQ(test::max_abs_diff(copy, to_dtype(params, DType::kBF16)), 0.0);
  Tensor m = Tensor::zeros({n}), v = Tensor::zeros({n}), p32 = test::random_tensor({n}, DType::kF32, 5);
  Tensor short_copy = Tensor::empty({n - 1}, DType::kBF16), int_copy = Tensor::empty({n}, DType::kI32);
  test::expect_error([&] { ops::adamw_step(p32, p32, m, v, Tensor(), ops::AdamWParams{}, &short_copy); },
                     {"adamw_step", "compute_copy", "1036"});
  test::expect_error([&] { ops::adamw_step(p32, p32, m, v, Tensor(), ops::AdamWParams{}, &int_copy); },
                     {"adamw_step", "compute_copy", "i32"});
}

TEST(OptimizerGradScale, GradientsAreScaledBeforeUse) {
  const int64_t n = 1037;
  const Tensor g = test::random_tensor({n}, DType::kF32, 6);
  Tensor g2 = g.clone();
  for (int64_t i = 0; i < n; ++i) g2.data<float>()[i] *= 2.0f;  // exact
  const Tensor start = test::random_tensor({n}, DType::kF32, 7);
  Tensor pa = start.clone(), pb = start.clone();
  Tensor ma = Tensor::zeros({n}), va = Tensor::zeros({n}), mb = Tensor::zeros({n}), vb = Tensor::zeros({n});
  ops::AdamWParams a;
  a.weight_decay = 0.1;
  ops::adamw_step(pa, g2, ma, va, make_mask(n), a);
  a.grad_scale = 2.0;
  ops::adamw_step(pb, g, mb, vb, make_mask(n), a);
  EXPECT_EQ(test::max_abs_diff(pa, pb), 0.0);
  EXPECT_EQ(test::max_abs_diff(va, vb), 0.0);
  Tensor sa = start.clone(), sb = start.clone(), ba = Tensor::zeros({n}), bb = Tensor::zeros({n});
  ops::SgdParams s;
  s.momentum = 0.9;
  s.weight_decay = 0.1;
  ops::sgd_step(sa, g2, ba, make_mask(n), s, true);
  s.grad_scale = 2.0;
  ops::sgd_step(sb, g, bb, make_mask(n), s, true);
  EXPECT_EQ(test::max_abs_diff(sa, sb), 0.0);
  EXPECT_EQ(test::max_abs_diff(ba, bb), 0.0);
}

}  // namespace
}  // namespace attncamp
