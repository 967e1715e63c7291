// CUDA attention parity: both kernel families (simple f32-FMA tiles and tensor-core mma.sync)
// against the CPU reference, forward (out, lse) and backward (dq, dk, dv), on ragged sizes with
// causal and key-padding masks (one batch row with every key masked) and the packed entry points.
// f32 runs are compared with the CPU in f32; bf16 and f16 runs with the CPU in f64 under STYLE's
// rule max|out - ref64| <= 2 max|ref_lowp - ref64| + eps. Outputs are poisoned first. The
// tensor-core backward runs both ways: dQ summed with atomics (the default) and deterministic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "ops/attention.h"
#include "runtime/env.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using ops::AttentionImpl;

// f32 runs: max|gpu - cpu32| <= kF32Tol * (1 + max|cpu32|) (both are f32 computations of the
// same values; their differences are a few f32 ulps of sums over up to 257 terms).
constexpr double kF32Tol = 1e-5;
// lse is f32 on every CUDA path: eps = kLseTol * (1 + max|lse|) on top of the lowp rule.
constexpr double kLseTol = 1e-5;

// Unit roundoff u of a 16-bit dtype. The tensor-core kernels also round P and dS to the input
// dtype before their products (as FlashAttention does), which ref_lowp (f32 throughout) does not:
// eps = kRoundedOperands * u * max|ref64| covers those two roundings.
double unit_roundoff(DType dt) { return dt == DType::kBF16 ? 1.0 / 256 : 1.0 / 2048; }
constexpr double kRoundedOperands = 2;
// Plus an absolute floor for gradients that are exactly 0 in exact arithmetic (a row with one
// attendable key: dS = P (dP - delta) cancels), where the kernels' f32 sums leave about 1e-7.
constexpr double kAbsEps = 1e-5;

struct Case {
  int64_t sq, sk;
  bool causal, masked;
};
// Ragged tails around the 16/32/64-row tiles, Sq != Sk both ways, single rows.
const std::vector<Case> kCases = {{1, 1, false, false},    {17, 17, true, true},   {64, 64, false, true},
                                  {100, 57, true, false},  {33, 100, false, true}, {257, 257, true, true},
                                  {257, 64, false, false}, {1, 257, true, true}};
constexpr int64_t kBatch = 2, kHeads = 2;

// Key mask with about 30% padded keys; the last batch row has every key masked, row 0 keeps
// key 0 (so causal row 0 is attendable).
Tensor make_mask(int64_t b, int64_t sk, uint64_t seed) {
  Tensor m = Tensor::empty({b, sk}, DType::kU8);
  Tensor r = test::random_tensor({b, sk}, DType::kF64, seed, 0, 1);
  for (int64_t i = 0; i < b * sk; ++i) m.data<uint8_t>()[i] = r.data<double>()[i] < 0.7 ? 1 : 0;
  for (int64_t j = 0; j < sk; ++j) m.data<uint8_t>()[(b - 1) * sk + j] = 0;
  m.data<uint8_t>()[0] = 1;
  return m;
}

// Host inputs (f64): q, k, v [B,S,H,D] or qkv [B,S,3,H,D] (packed), dout, mask.
struct Inputs {
  bool packed = false;
  Tensor q, k, v, qkv, dout, mask;
};

Inputs make_inputs(const Case& c, int64_t d, bool packed, uint64_t seed) {
  Inputs in;
  in.packed = packed;
  if (packed) {
    in.qkv = test::random_tensor({kBatch, c.sq, 3, kHeads, d}, DType::kF64, seed, -2, 2);
  } else {
    in.q = test::random_tensor({kBatch, c.sq, kHeads, d}, DType::kF64, seed, -2, 2);
    in.k = test::random_tensor({kBatch, c.sk, kHeads, d}, DType::kF64, seed + 1, -2, 2);
    in.v = test::random_tensor({kBatch, c.sk, kHeads, d}, DType::kF64, seed + 2);
  }
  in.dout = test::random_tensor({kBatch, c.sq, kHeads, d}, DType::kF64, seed + 3);
  if (c.masked) in.mask = make_mask(kBatch, c.sk, seed + 4);
  return in;
}

// Every input converted by `f` (the mask is kept).
template <typename F>
Inputs map_inputs(const Inputs& in, F f) {
  Inputs r = in;
  for (Tensor* t : {&r.q, &r.k, &r.v, &r.qkv, &r.dout}) {
    if (t->defined()) *t = f(*t);
  }
  return r;
}

// Forward and backward outputs as host f64 (dq, dk, dv are the parts of dqkv when packed).
struct Result {
  Tensor out, lse, dq, dk, dv;
};

// Splits [B,S,3,H,D] (host f64) into its q, k, v parts.
Tensor part(const Tensor& qkv, int64_t which) {
  const int64_t bs = qkv.size(0) * qkv.size(1), hd = qkv.size(3) * qkv.size(4);
  Tensor r = Tensor::empty({qkv.size(0), qkv.size(1), qkv.size(3), qkv.size(4)}, DType::kF64);
  for (int64_t i = 0; i < bs; ++i) {
    for (int64_t e = 0; e < hd; ++e) r.data<double>()[i * hd + e] = qkv.data<double>()[(i * 3 + which) * hd + e];
  }
  return r;
}

// Runs forward then backward on the device of `in`'s tensors (all already in dtype `dt`);
// lse is f32 on CUDA, `dt` on the CPU.
Result run(const Inputs& in, bool causal, AttentionImpl impl, Device dev, DType dt, bool deterministic = false) {
  ops::AttentionOptions opt;
  opt.causal = causal;
  opt.impl = impl;
  opt.deterministic = deterministic;
  const Tensor& q_like = in.packed ? in.qkv : in.q;
  const int64_t b = q_like.size(0), s = q_like.size(1);
  const int64_t h = in.packed ? q_like.size(3) : q_like.size(2), d = q_like.shape().back();
  const DType lse_dt = dev.is_cpu() ? dt : DType::kF32;
  Tensor out = Tensor::empty({b, s, h, d}, dt, dev), lse = Tensor::empty({b, h, s}, lse_dt, dev);
  out.poison();
  lse.poison();
  Result r;
  if (in.packed) {
    ops::attention_qkvpacked_forward(in.qkv, in.mask, opt, out, lse);
    Tensor dqkv = Tensor::empty(in.qkv.shape(), dt, dev);
    dqkv.poison();
    ops::attention_qkvpacked_backward(in.qkv, in.mask, opt, out, lse, in.dout, dqkv);
    const Tensor g = test::to_host_f64(dqkv);
    r.dq = part(g, 0);
    r.dk = part(g, 1);
    r.dv = part(g, 2);
  } else {
    ops::attention_forward(in.q, in.k, in.v, in.mask, opt, out, lse);
    Tensor dq = Tensor::empty(in.q.shape(), dt, dev), dk = Tensor::empty(in.k.shape(), dt, dev);
    Tensor dv = Tensor::empty(in.v.shape(), dt, dev);
    dq.poison();
    dk.poison();
    dv.poison();
    ops::attention_backward(in.q, in.k, in.v, in.mask, opt, out, lse, in.dout, dq, dk, dv);
    r.dq = test::to_host_f64(dq);
    r.dk = test::to_host_f64(dk);
    r.dv = test::to_host_f64(dv);
  }
  r.out = test::to_host_f64(out);
  r.lse = test::to_host_f64(lse);
  return r;
}

Result run_cpu(const Inputs& in, bool causal, DType dt) {
  return run(map_inputs(in, [&](const Tensor& t) { return test::to_dtype(t, dt); }), causal, AttentionImpl::kAuto,
             Device::cpu(), dt);
}

Result run_gpu(const Inputs& in, bool causal, AttentionImpl impl, DType dt, bool deterministic = false) {
  Inputs g = map_inputs(in, [&](const Tensor& t) { return test::to_gpu(t, dt); });
  if (g.mask.defined()) g.mask = in.mask.to(Device::cuda(0));
  return run(g, causal, impl, Device::cuda(0), dt, deterministic);
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double x = std::fabs(t.data<double>()[i]);
    if (std::isfinite(x)) m = std::max(m, x);
  }
  return m;
}

// Largest |a - b| of two lse tensors; -inf (row without keys) must match exactly.
double lse_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data<double>()[i], y = b.data<double>()[i];
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return INFINITY;
      continue;
    }
    if (std::isnan(x - y)) return INFINITY;
    m = std::max(m, std::fabs(x - y));
  }
  return m;
}

// One case in dtype `dt` on kernel family `impl`, checked as the file comment says.
void check_case(const Inputs& in, bool causal, AttentionImpl impl, DType dt, bool deterministic) {
  if (dt == DType::kF32) {
    const Result ref = run_cpu(in, causal, DType::kF32);
    const Result got = run_gpu(in, causal, impl, DType::kF32, deterministic);
    const std::vector<std::pair<const char*, std::pair<const Tensor*, const Tensor*>>> outs = {
        {"out", {&got.out, &ref.out}},
        {"dq", {&got.dq, &ref.dq}},
        {"dk", {&got.dk, &ref.dk}},
        {"dv", {&got.dv, &ref.dv}}};
    for (const auto& [what, t] : outs) {
      EXPECT_LE(test::max_abs_diff(*t.first, *t.second), kF32Tol * (1 + max_abs(*t.second))) << what;
    }
    EXPECT_LE(lse_diff(got.lse, ref.lse), kF32Tol * (1 + max_abs(ref.lse))) << "lse";
    return;
  }
  const Inputs rounded = map_inputs(in, [&](const Tensor& t) { return test::round_through(t, dt); });
  const Result ref64 = run_cpu(rounded, causal, DType::kF64);
  const Result ref32 = run_cpu(rounded, causal, DType::kF32);
  const Result got = run_gpu(in, causal, impl, dt, deterministic);
  const std::vector<std::pair<const char*, std::vector<const Tensor*>>> outs = {
      {"out", {&got.out, &ref64.out, &ref32.out}},
      {"dq", {&got.dq, &ref64.dq, &ref32.dq}},
      {"dk", {&got.dk, &ref64.dk, &ref32.dk}},
      {"dv", {&got.dv, &ref64.dv, &ref32.dv}}};
  for (const auto& [what, t] : outs) {
    const double tol = test::lowp_tolerance(*t[1], test::round_through(*t[2], dt),
                                            kRoundedOperands * unit_roundoff(dt) * max_abs(*t[1]) + kAbsEps);
    EXPECT_LE(test::max_abs_diff(*t[0], *t[1]), tol) << what;
  }
  const double lse_tol = 2 * lse_diff(ref32.lse, ref64.lse) + kLseTol * (1 + max_abs(ref64.lse));
  EXPECT_LE(lse_diff(got.lse, ref64.lse), lse_tol) << "lse";
}

const char* impl_name(AttentionImpl impl) { return impl == AttentionImpl::kMma ? "mma" : "simple"; }

// Every case of kCases for head dims `dims` (unpacked, plus packed when Sq == Sk).
void check_all(AttentionImpl impl, DType dt, const std::vector<int64_t>& dims, bool deterministic = false) {
  uint64_t seed = 1000;
  for (const int64_t d : dims) {
    for (const Case& c : kCases) {
      for (const bool packed : {false, true}) {
        if (packed && c.sq != c.sk) continue;
        SCOPED_TRACE(testing::Message() << impl_name(impl) << " " << dtype_name(dt) << " D=" << d << " Sq=" << c.sq
                                        << " Sk=" << c.sk << " causal=" << c.causal << " masked=" << c.masked
                                        << " packed=" << packed << " deterministic=" << deterministic);
        check_case(make_inputs(c, d, packed, seed), c.causal, impl, dt, deterministic);
        seed += 10;
      }
    }
  }
}

TEST(CudaAttention, SimpleF32MatchesCpuF32) {
  ATTNCAMP_REQUIRE_GPU();
  check_all(AttentionImpl::kSimple, DType::kF32, {32, 64, 128});
}

TEST(CudaAttention, SimpleLowPrecisionMatchesCpuF64) {
  ATTNCAMP_REQUIRE_GPU();
  check_all(AttentionImpl::kSimple, DType::kBF16, {32, 64, 128});
  check_all(AttentionImpl::kSimple, DType::kF16, {64});
}

TEST(CudaAttention, SimpleOddHeadDims) {
  ATTNCAMP_REQUIRE_GPU();
  // Head dims off the tensor-core set, up to the simple path's maximum (shared memory opt-in).
  check_all(AttentionImpl::kSimple, DType::kF32, {8, 40, 256});
  check_all(AttentionImpl::kAuto, DType::kBF16, {24});  // auto falls back to simple
}

TEST(CudaAttention, MmaBf16MatchesCpuF64) {
  ATTNCAMP_REQUIRE_GPU();
  check_all(AttentionImpl::kMma, DType::kBF16, {32, 64, 128});
}

TEST(CudaAttention, MmaF16MatchesCpuF64) {
  ATTNCAMP_REQUIRE_GPU();
  check_all(AttentionImpl::kMma, DType::kF16, {32, 64, 128});
}

TEST(CudaAttention, MmaDeterministicBackwardMatchesCpuF64) {
  ATTNCAMP_REQUIRE_GPU();
  check_all(AttentionImpl::kMma, DType::kBF16, {32, 64, 128}, true);
}

TEST(CudaAttention, BackwardIsDeterministic) {
  ATTNCAMP_REQUIRE_GPU();
  const Inputs in = make_inputs({257, 257, true, true}, 64, true, 77);
  for (const AttentionImpl impl : {AttentionImpl::kSimple, AttentionImpl::kMma}) {
    SCOPED_TRACE(impl_name(impl));
    const Result a = run_gpu(in, true, impl, DType::kBF16, true);
    const Result b = run_gpu(in, true, impl, DType::kBF16, true);
    EXPECT_EQ(test::max_abs_diff(a.dq, b.dq), 0.0);
    EXPECT_EQ(test::max_abs_diff(a.dk, b.dk), 0.0);
    EXPECT_EQ(test::max_abs_diff(a.dv, b.dv), 0.0);
  }
}

// The atomic-dQ backward runs the deterministic path's dK/dV arithmetic, so dk and dv agree
// bitwise; dq differs only by the f32 summation order, which can move its rounding to bf16 by one
// unit (2^-8 relative), plus a floor for sums that cancel to near 0.
TEST(CudaAttention, AtomicDqMatchesDeterministicBackward) {
  ATTNCAMP_REQUIRE_GPU();
  uint64_t seed = 300;
  for (const int64_t d : {32, 64, 128}) {
    for (const Case& c : {Case{257, 257, true, true}, Case{100, 300, false, false}, Case{300, 33, false, true}}) {
      SCOPED_TRACE(testing::Message() << "D=" << d << " Sq=" << c.sq << " Sk=" << c.sk);
      const Inputs in = make_inputs(c, d, false, seed += 10);
      const Result det = run_gpu(in, c.causal, AttentionImpl::kMma, DType::kBF16, true);
      const Result atomic = run_gpu(in, c.causal, AttentionImpl::kMma, DType::kBF16, false);
      EXPECT_EQ(test::max_abs_diff(atomic.dk, det.dk), 0.0);
      EXPECT_EQ(test::max_abs_diff(atomic.dv, det.dv), 0.0);
      for (int64_t i = 0; i < det.dq.numel(); ++i) {
        const double x = atomic.dq.data<double>()[i], y = det.dq.data<double>()[i];
        ASSERT_LE(std::fabs(x - y), std::fabs(y) / 128 + 1e-5) << "dq element " << i;
      }
    }
  }
}

TEST(CudaAttention, DeviceChecksNameTheProblem) {
  ATTNCAMP_REQUIRE_GPU();
  const Inputs in = map_inputs(make_inputs({9, 9, false, false}, 32, false, 5),
                               [](const Tensor& t) { return test::to_gpu(t, DType::kF32); });
  Tensor out = Tensor::empty(in.q.shape(), DType::kF32, Device::cuda(0));
  Tensor lse = Tensor::empty({kBatch, kHeads, 9}, DType::kF32, Device::cuda(0));
  ops::AttentionOptions mma;
  mma.impl = AttentionImpl::kMma;
  test::expect_error([&] { ops::attention_forward(in.q, in.k, in.v, Tensor(), mma, out, lse); },
                     {"mma", "bf16 or f16", "f32"});
  Tensor lse_bf16 = Tensor::empty({kBatch, kHeads, 9}, DType::kBF16, Device::cuda(0));
  test::expect_error([&] { ops::attention_forward(in.q, in.k, in.v, Tensor(), {}, out, lse_bf16); },
                     {"attention lse", "f32"});
  Tensor host_out = Tensor::empty(in.q.shape(), DType::kF32);
  test::expect_error([&] { ops::attention_forward(in.q, in.k, in.v, Tensor(), {}, host_out, lse); },
                     {"attention_forward", "different devices"});
}

// Host-side choice of the deterministic backward: runs on every machine.
TEST(CudaAttention, DeterministicFollowsOptionAndEnvironment) {
  const char* saved = std::getenv(env::kDeterministic);
  const std::string saved_value = saved != nullptr ? saved : "";
  unsetenv(env::kDeterministic);
  EXPECT_FALSE(ops::resolve_attention_deterministic(false));
  EXPECT_TRUE(ops::resolve_attention_deterministic(true));
  setenv(env::kDeterministic, "1", 1);
  EXPECT_TRUE(ops::resolve_attention_deterministic(false));
  setenv(env::kDeterministic, "0", 1);
  EXPECT_FALSE(ops::resolve_attention_deterministic(false));
  EXPECT_TRUE(ops::resolve_attention_deterministic(true));
  setenv(env::kDeterministic, "yes", 1);
  test::expect_error([] { ops::resolve_attention_deterministic(false); }, {env::kDeterministic, "0 or 1", "yes"});
  if (saved != nullptr) {
    setenv(env::kDeterministic, saved_value.c_str(), 1);
  } else {
    unsetenv(env::kDeterministic);
  }
}

// Host-side kernel choice: runs on every machine.
TEST(CudaAttention, ResolveImplPicksTensorCoresWhereTheyApply) {
  const char* saved = std::getenv(env::kAttentionImpl);
  const std::string saved_value = saved != nullptr ? saved : "";
  unsetenv(env::kAttentionImpl);
  EXPECT_EQ(ops::resolve_attention_impl(AttentionImpl::kAuto, DType::kBF16, 64, true), AttentionImpl::kMma);
  EXPECT_EQ(ops::resolve_attention_impl(AttentionImpl::kAuto, DType::kF16, 128, true), AttentionImpl::kMma);
  EXPECT_EQ(ops::resolve_attention_impl(AttentionImpl::kAuto, DType::kF32, 64, true), AttentionImpl::kSimple);
  EXPECT_EQ(ops::resolve_attention_impl(AttentionImpl::kAuto, DType::kBF16, 48, true), AttentionImpl::kSimple);
  EXPECT_EQ(ops::resolve_attention_impl(AttentionImpl::kAuto, DType::kBF16, 64, false), AttentionImpl::kSimple);
  EXPECT_EQ(ops::resolve_attention_impl(AttentionImpl::kSimple, DType::kBF16, 64, true), AttentionImpl::kSimple);
  test::expect_error([] { ops::resolve_attention_impl(AttentionImpl::kMma, DType::kF32, 64, true); },
                     {"mma", "bf16 or f16", "f32"});
  test::expect_error([] { ops::resolve_attention_impl(AttentionImpl::kMma, DType::kBF16, 64, false); },
                     {"unaligned rows"});
  test::expect_error([] { ops::resolve_attention_impl(AttentionImpl::kAuto, DType::kF32, 512, true); },
                     {"up to 256", "512"});
  setenv(env::kAttentionImpl, "simple", 1);
  EXPECT_EQ(ops::resolve_attention_impl(AttentionImpl::kAuto, DType::kBF16, 64, true), AttentionImpl::kSimple);
  EXPECT_EQ(ops::resolve_attention_impl(AttentionImpl::kMma, DType::kBF16, 64, true), AttentionImpl::kMma);
  setenv(env::kAttentionImpl, "fast", 1);
  test::expect_error([] { ops::resolve_attention_impl(AttentionImpl::kAuto, DType::kBF16, 64, true); },
                     {env::kAttentionImpl, "auto, simple or mma", "fast"});
  if (saved != nullptr) {
    setenv(env::kAttentionImpl, saved_value.c_str(), 1);
  } else {
    unsetenv(env::kAttentionImpl);
  }
}

}  // namespace
}  // namespace attncamp
