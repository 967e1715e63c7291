// Parity tests of the CUDA layer norm (plain and residual), cross-entropy, reductions, gradient
// clipping and optimizer steps against their CPU references. LayerNorm, cross-entropy, argmax and
// top-k go through the parity harness (tests/ops/parity.h): f32 kernels against CPU f32 with
// tight tolerances, bf16 kernels against CPU f64 by STYLE's rule, integer and exact outputs
// exactly, on ragged sizes with poisoned outputs. GPU tests skip (saying why) without one; the
// last tests check the CPU side of the optimizer's compute copy and grad_scale and need no GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ops/clip_grad.h"
#include "ops/cross_entropy.h"
#include "ops/layernorm.h"
#include "ops/optimizer.h"
#include "ops/reduce.h"
#include "tests/cuda_test_util.h"
#include "tests/ops/parity.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::accum;
using test::in;
using test::out;
using test::param;
using test::param_out;
using test::ParityRun;
using test::round_through;
using test::to_dtype;
using test::to_gpu;
using test::to_host_f64;

constexpr double kLnEps = 1e-5;
constexpr double kF32Rel = 2e-5;   // f32 kernel vs CPU f32: max|diff| <= kF32Rel * (1 + max|ref|)
constexpr double kLowpRel = 1e-5;  // eps of the bf16 rule: kLowpRel * (1 + max|ref64|)
constexpr double kSumRel = 1e-12;  // double-accumulated sums, relative to the sum of |x|
constexpr double kOptRel = 1e-6;   // optimizer f32 vs CPU f32 (contracted multiply-adds differ by ulps)
// LayerNorm and cross-entropy: kF32Rel and kLowpRel relative to 1 + max|reference|.
const test::Tolerance kLayerNormTol{{kF32Rel, kF32Rel}, {kLowpRel, kLowpRel}};
const test::Tolerance kCrossEntropyTol{{kF32Rel, kF32Rel}, {kLowpRel, kLowpRel}};
const std::vector<DType> kF32AndBf16 = {DType::kF32, DType::kBF16};

Tensor gpu_out(const Shape& shape, DType dtype) { return test::poisoned(shape, dtype, Device::cuda(0)); }

// |out - ref| <= rel * (1 + max|ref|), both on any device.
void expect_f32(const Tensor& out, const Tensor& ref, double rel, const std::string& what) {
  const Tensor r = to_host_f64(ref);
  EXPECT_LE(test::max_abs_diff(to_host_f64(out), r), rel * (1.0 + test::max_abs(r))) << what;
}

std::string name(const char* op, int64_t rows, int64_t cols) {
  return std::string(op) + " " + std::to_string(rows) + "x" + std::to_string(cols);
}

struct RowsCols {
  int64_t rows, cols;
};
// Warp rows with scalar and vector accesses, the 1024 boundary, block rows (ragged and vector),
// and enough rows for several dgamma/dbeta chunks.
constexpr RowsCols kLnCases[] = {{37, 7}, {19, 384}, {33, 1024}, {5, 1030}, {6, 2048}, {1000, 96}};

// misaligned: activations start 3 elements into their allocations. Slots: x, gamma, beta, y, mean,
// rstd, then residual and sum_out for the residual form; sum_out must equal the CPU's sum exactly.
void ln_forward_case(int64_t rows, int64_t cols, bool residual, const std::vector<DType>& dtypes,
                     bool misaligned = false) {
  const int64_t off = misaligned ? 3 : 0;
  std::vector<test::Slot> slots = {
      test::misaligned(in("x", test::random_tensor({rows, cols}, DType::kF32, 100 + cols, -2.0, 3.0)), off),
      param("gamma", test::random_tensor({cols}, DType::kF32, 300 + cols, 0.5, 1.5)),
      param("beta", test::random_tensor({cols}, DType::kF32, 400 + cols)),
      out("y", {rows, cols}),
      param_out("mean", {rows}),
      param_out("rstd", {rows})};
  if (residual) {
    slots.push_back(test::misaligned(in("residual", test::random_tensor({rows, cols}, DType::kF32, 200 + cols)), off));
    slots.push_back(test::exact(out("sum_out", {rows, cols})));
  }
  const std::string op = residual ? "add_layernorm_forward" : "layernorm_forward";
  test::check_parity({name(op.c_str(), rows, cols) + (misaligned ? " misaligned" : ""), dtypes, kLayerNormTol, slots,
                      [residual](std::vector<Tensor>& t, const ParityRun& r) {
                        if (!residual) return ops::layernorm_forward(t[0], t[1], t[2], kLnEps, t[3], t[4], t[5]);
                        ops::add_layernorm_forward(t[0], t[6], t[1], t[2], kLnEps, t[7], t[3], t[4], t[5]);
                        if (r.lowp) {  // the kernel normalises the sum it stores in the activation dtype
                          r.round_stored(t[7]);
                          ops::layernorm_forward(t[7], t[1], t[2], kLnEps, t[3], t[4], t[5]);
                        }
                      }});
}

// Slots: dy, x, gamma, mean, rstd, dx, dgamma, dbeta (accumulated into), then dsum_in for the
// residual form. The statistics are those of x rounded through `dt`, from the f64 forward, as f32:
// the same inputs for every side.
void ln_backward_case(int64_t rows, int64_t cols, bool residual, DType dt, bool misaligned = false) {
  const int64_t off = misaligned ? 3 : 0;
  const Tensor x = test::random_tensor({rows, cols}, DType::kF32, 500 + cols, -2.0, 3.0);
  const Tensor gamma = test::random_tensor({cols}, DType::kF32, 800 + cols, 0.5, 1.5);
  const Tensor x64 = round_through(x, dt);
  Tensor y = Tensor::empty({rows, cols}, DType::kF64), mean = Tensor::empty({rows}, DType::kF64),
         rstd = Tensor::empty({rows}, DType::kF64);
  ops::layernorm_forward(x64, to_dtype(gamma, DType::kF64), Tensor::zeros({cols}, DType::kF64), kLnEps, y, mean, rstd);
  std::vector<test::Slot> slots = {
      test::misaligned(in("dy", test::random_tensor({rows, cols}, DType::kF32, 600 + cols)), off),
      test::misaligned(in("x", x), off),
      param("gamma", gamma),
      param("mean", to_dtype(mean, DType::kF32)),
      param("rstd", to_dtype(rstd, DType::kF32)),
      out("dx", {rows, cols}),
      accum("dgamma", test::random_tensor({cols}, DType::kF32, 900 + cols)),
      accum("dbeta", test::random_tensor({cols}, DType::kF32, 1000 + cols))};
  if (residual) {
    slots.push_back(test::misaligned(in("dsum_in", test::random_tensor({rows, cols}, DType::kF32, 700 + cols)), off));
  }
  const std::string op = residual ? "add_layernorm_backward" : "layernorm_backward";
  test::check_parity({name(op.c_str(), rows, cols) + (misaligned ? " misaligned" : ""),
                      {dt},
                      kLayerNormTol,
                      slots,
                      [residual](std::vector<Tensor>& t, const ParityRun&) {
                        if (residual) {
                          ops::add_layernorm_backward(t[0], t[8], t[1], t[2], t[3], t[4], t[5], t[6], t[7]);
                        } else {
                          ops::layernorm_backward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]);
                        }
                      }});
}

TEST(LayerNormParity, Forward) {
  ATTNCAMP_REQUIRE_GPU();
  for (const RowsCols& c : kLnCases) {
    ln_forward_case(c.rows, c.cols, false, kF32AndBf16);
    ln_forward_case(c.rows, c.cols, true, kF32AndBf16);
  }
}

TEST(LayerNormParity, Backward) {
  ATTNCAMP_REQUIRE_GPU();
  for (const RowsCols& c : kLnCases) {
    for (DType dt : kF32AndBf16) {
      ln_backward_case(c.rows, c.cols, false, dt);
      ln_backward_case(c.rows, c.cols, true, dt);
    }
  }
}

TEST(LayerNormParity, MisalignedViews) {
  ATTNCAMP_REQUIRE_GPU();
  for (bool residual : {false, true}) {
    ln_forward_case(9, 64, residual, kF32AndBf16, true);
    for (DType dt : kF32AndBf16) ln_backward_case(9, 64, residual, dt, true);
  }
}

TEST(LayerNormParity, ManyRowsUseEveryGridStrideAndChunk) {
  ATTNCAMP_REQUIRE_GPU();
  ln_forward_case(530000, 3, false, {DType::kF32});  // more rows than warps in the grid
  ln_backward_case(530000, 3, false, DType::kF32);
}

TEST(LayerNormCuda, ParameterGradientsAreDeterministic) {
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

constexpr RowsCols kCeCases[] = {{37, 10}, {13, 1000}, {9, 1024}, {5, 3001}};

TEST(CrossEntropyParity, ForwardBackward) {
  ATTNCAMP_REQUIRE_GPU();
  const double smoothing = 0.1, scale = 0.5;
  for (const RowsCols& c : kCeCases) {
    const std::string what = name("cross_entropy", c.rows, c.cols);
    const test::ParityOutputs outs =
        test::check_parity({what,
                            kF32AndBf16,
                            kCrossEntropyTol,
                            {in("logits", test::random_tensor({c.rows, c.cols}, DType::kF32, 40 + c.cols, -4.0, 4.0)),
                             test::int_in("labels", ce_labels(c.rows, c.cols)), param_out("losses", {c.rows}),
                             out("dlogits", {c.rows, c.cols})},
                            [&](std::vector<Tensor>& t, const ParityRun&) {
                              ops::cross_entropy_forward_backward(t[0], t[1], smoothing, scale, t[2], t[3]);
                            }});
    for (const auto& o : outs) {  // per dtype: losses, dlogits; ignored rows are exact zeros
      for (int64_t r = 2; r < c.rows; r += 5) {
        EXPECT_EQ(o[0].data<double>()[r], 0.0) << what;
        for (int64_t k = 0; k < c.cols; ++k) ASSERT_EQ(o[1].data<double>()[r * c.cols + k], 0.0) << what;
      }
    }
  }
}

TEST(CrossEntropyCuda, LossOnlyIsDeterministicAndBadLabelsThrow) {
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

// Equal element for element (NaN matching NaN), on any devices.
bool same_values(const Tensor& a, const Tensor& b) { return test::same_elements(to_host_f64(a), to_host_f64(b)); }

TEST(ReduceParity, SumAndMean) {
  ATTNCAMP_REQUIRE_GPU();
  for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{300001}}) {
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
      const Tensor x = test::random_tensor({n}, DType::kF32, 60 + n, -1.0, 2.0);
      const Tensor xr = round_through(x, dt);  // the values the kernel sums, exactly
      const Tensor g = to_gpu(x, dt);
      double abs_sum = 0;
      for (int64_t i = 0; i < n; ++i) abs_sum += std::fabs(xr.data<double>()[i]);
      const std::string what = name("sum", 1, n) + " " + dtype_name(dt);
      const double got = ops::sum(g);
      EXPECT_NEAR(got, ops::sum(xr), kSumRel * (1.0 + abs_sum)) << what;
      EXPECT_EQ(ops::sum(g), got) << "sum must be deterministic";
      EXPECT_NEAR(ops::mean(g), ops::mean(xr), kSumRel * (1.0 + abs_sum)) << what;
    }
  }
  EXPECT_EQ(ops::sum(Tensor::empty({0}, DType::kF32, Device::cuda(0))), 0.0);
  EXPECT_THROW(ops::mean(Tensor::empty({0}, DType::kF32, Device::cuda(0))), Error);
}

// argmax and top-k: indices exactly, top-k values exactly (NaN matching NaN), through the harness;
// the counts of count_topk_correct against the CPU's.
TEST(ReduceParity, ArgmaxTopkAndTopkCounts) {
  ATTNCAMP_REQUIRE_GPU();
  const int64_t rows = 37;
  for (int64_t cols : {int64_t{7}, int64_t{1000}}) {
    const Tensor x = tie_logits(rows, cols, 70 + cols);
    Tensor labels = Tensor::empty({rows}, DType::kI32);
    for (int64_t r = 0; r < rows; ++r)
      labels.data<int32_t>()[r] = r % 6 == 0 ? -1 : static_cast<int32_t>((r * 5 + 1) % cols);
    const std::string what = name("reduce", rows, cols);
    test::check_parity({what + " argmax",
                        kF32AndBf16,
                        test::Tolerance{},
                        {in("x", x), test::int_out("idx", {rows})},
                        [](std::vector<Tensor>& t, const ParityRun&) { ops::argmax(t[0], t[1]); }});
    for (int k : {1, 3, 5, static_cast<int>(cols)}) {
      test::check_parity({what + " topk k=" + std::to_string(k),
                          kF32AndBf16,
                          test::Tolerance{},
                          {in("x", x), test::exact(out("values", {rows, k})), test::int_out("idx", {rows, k})},
                          [k](std::vector<Tensor>& t, const ParityRun&) { ops::topk(t[0], k, t[1], t[2]); }});
      for (DType dt : kF32AndBf16) {
        EXPECT_EQ(ops::count_topk_correct(to_gpu(x, dt), labels.to(Device::cuda(0)), k),
                  ops::count_topk_correct(x, labels, k))
            << what << " " << dtype_name(dt) << " count k=" << k;
      }
    }
    Tensor bad = labels.clone();
    bad.data<int32_t>()[2] = static_cast<int32_t>(cols) + 2;
    test::expect_error([&] { ops::count_topk_correct(to_gpu(x, DType::kF32), bad.to(Device::cuda(0)), 1); },
                       {"label " + std::to_string(cols + 2) + " at index 2"});
  }
}

TEST(ClipGradParity, NormAndClipping) {
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

TEST(OptimizerParity, AdamWAndComputeCopy) {
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

TEST(OptimizerParity, SgdAndComputeCopy) {
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
