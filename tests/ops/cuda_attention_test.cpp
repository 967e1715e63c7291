// CUDA attention parity: both kernel families (simple f32-FMA tiles and tensor-core mma.sync)
// against the CPU reference, forward (out, lse) and backward (dq, dk, dv), on ragged sizes with
// causal and key-padding masks (one batch row with every key masked) and the packed entry points.
// f32 runs are compared with the CPU in f32; bf16 and f16 runs with the CPU in f64 under STYLE's
// rule max|out - ref64| <= 2 max|ref_lowp - ref64| + eps (inputs, runs and eps shared with the
// other attention tests in attention_test_cases.h). Outputs are poisoned first. The tensor-core
// backward runs both ways: dQ summed with atomics (the default) and deterministic.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ops/attention.h"
#include "ops/attention_lab.h"
#include "runtime/env.h"
#include "runtime/error.h"
#include "tests/cuda_test_util.h"
#include "tests/ops/attention_test_cases.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using ops::AttentionImpl;
using test::attention::Case;
using test::attention::Compared;
using test::attention::expect_lowp_match;
using test::attention::Inputs;
using test::attention::kBatch;
using test::attention::kHeads;
using test::attention::lse_diff;
using test::attention::make_inputs;
using test::attention::map_inputs;
using test::attention::Result;
using test::attention::run_attention;
using test::attention::run_cpu;

// f32 runs: max|gpu - cpu32| <= kF32Tol * (1 + max|cpu32|) (both are f32 computations of the
// same values; their differences are a few f32 ulps of sums over up to 257 terms).
constexpr double kF32Tol = 1e-5;

// Ragged tails around the 16/32/64-row tiles, Sq != Sk both ways, single rows.
const std::vector<Case> kCases = {{1, 1, false, false},    {17, 17, true, true},   {64, 64, false, true},
                                  {100, 57, true, false},  {33, 100, false, true}, {257, 257, true, true},
                                  {257, 64, false, false}, {1, 257, true, true}};

// Forward and backward on the GPU in `dt` with options `opt`, outputs as host f64.
Result run_gpu(const Inputs& in, const ops::AttentionOptions& opt, DType dt) {
  Inputs g = map_inputs(in, [&](const Tensor& t) { return test::to_gpu(t, dt); });
  if (g.mask.defined()) g.mask = in.mask.to(Device::cuda(0));
  return run_attention(g, opt, Device::cuda(0), dt);
}
Result run_gpu(const Inputs& in, bool causal, AttentionImpl impl, DType dt, bool deterministic = false) {
  ops::AttentionOptions opt;
  opt.causal = causal;
  opt.impl = impl;
  opt.deterministic = deterministic;
  return run_gpu(in, opt, dt);
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
      EXPECT_LE(test::max_abs_diff(*t.first, *t.second), kF32Tol * (1 + test::max_abs(*t.second))) << what;
    }
    EXPECT_LE(lse_diff(got.lse, ref.lse), kF32Tol * (1 + test::max_abs(ref.lse))) << "lse";
    return;
  }
  expect_lowp_match(in, causal, dt, run_gpu(in, causal, impl, dt, deterministic), Compared::kBoth);
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

// The atomic-dQ backward's mma.sync shape (variant 0; on compute capability 9.0 the default is a
// wgmma kernel, which the CPU parity tests check) runs the deterministic path's dK/dV arithmetic,
// so dk and dv agree bitwise; dq differs only by the f32 summation order, which can move its
// rounding to bf16 by one unit (2^-8 relative), plus a floor for sums that cancel to near 0.
TEST(CudaAttention, AtomicDqMatchesDeterministicBackward) {
  ATTNCAMP_REQUIRE_GPU();
  uint64_t seed = 300;
  for (const int64_t d : {32, 64, 128}) {
    for (const Case& c : {Case{257, 257, true, true}, Case{100, 300, false, false}, Case{300, 33, false, true}}) {
      SCOPED_TRACE(testing::Message() << "D=" << d << " Sq=" << c.sq << " Sk=" << c.sk);
      const Inputs in = make_inputs(c, d, false, seed += 10);
      const Result det = run_gpu(in, c.causal, AttentionImpl::kMma, DType::kBF16, true);
      ops::AttentionVariants mma_sync;
      mma_sync.backward = 0;
      const ops::ScopedAttentionVariants scope(mma_sync);
      const Result atomic = run_gpu(in, c.causal, AttentionImpl::kMma, DType::kBF16);
      EXPECT_EQ(test::max_abs_diff(atomic.dk, det.dk), 0.0);
      EXPECT_EQ(test::max_abs_diff(atomic.dv, det.dv), 0.0);
      for (int64_t i = 0; i < det.dq.numel(); ++i) {
        const double x = atomic.dq.data<double>()[i], y = det.dq.data<double>()[i];
        ASSERT_LE(std::fabs(x - y), std::fabs(y) / 128 + 1e-5) << "dq element " << i;
      }
    }
  }
}

// The wgmma operand forms on the device (ops::attention_wgmma_probe): exact integer products. It
// runs before the variants, so if the wgmma variants fail parity the failing form here names the
// descriptor to look at. Devices other than compute capability 9.0, and builds without sm_90a code,
// refuse it, saying so.
TEST(CudaAttention, WgmmaOperandFormsAreExactProducts) {
  ATTNCAMP_REQUIRE_GPU();
  std::vector<std::pair<std::string, double>> errors;
  try {
    errors = ops::attention_wgmma_probe();
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find("compute capability 9.0") == std::string::npos && what.find("sm_90a") == std::string::npos) throw;
    GTEST_SKIP() << what;
  }
  ASSERT_EQ(errors.size(), 24u);  // per type: 4 forms as the header reads them, 8 alternatives
  std::string exact_alternatives;
  for (const auto& [form, err] : errors) {
    if (form.find("[alternative") != std::string::npos && err == 0.0) exact_alternatives += "\n  " + form;
  }
  for (const auto& [form, err] : errors) {
    if (form.find("[alternative") == std::string::npos) {
      EXPECT_EQ(err, 0.0) << form << "; alternatives that are exact:" << exact_alternatives;
    } else {
      EXPECT_GT(err, 0.0) << form << ": the probe does not tell the two strides apart";
    }
  }
}

// Every tile-shape variant of the tensor-core kernels (picked by index with
// ScopedAttentionVariants), forward variants with the default backward and backward variants
// after the default forward, on cases that cover ragged tiles, causal and key masks, Sq != Sk and
// the packed entry points.

TEST(CudaAttention, EveryMmaVariantMatchesCpuF64) {
  ATTNCAMP_REQUIRE_GPU();
  test::ScopedEnv deterministic(env::kDeterministic, "0");
  uint64_t seed = 4000;
  for (const int64_t d : {32, 64, 128}) {
    for (const ops::AttentionPass pass : {ops::AttentionPass::kForward, ops::AttentionPass::kBackward}) {
      const std::vector<std::string> names = ops::attention_mma_variants(pass, DType::kBF16, d);
      for (size_t i = 0; i < names.size(); ++i) {
        // wgmma kernels (sm_90a) differ per input type in their instructions: f16 too. Other
        // devices than compute capability 9.0, and builds without sm_90a code, refuse them.
        const bool wgmma = names[i].find("wgmma") != std::string::npos;
        for (const DType dt :
             wgmma ? std::vector<DType>{DType::kBF16, DType::kF16} : std::vector<DType>{DType::kBF16}) {
          for (const auto& [c, packed] : {std::pair{Case{257, 257, true, true}, true}, std::pair{kCases[3], false},
                                          std::pair{kCases[4], false}}) {
            SCOPED_TRACE(testing::Message()
                         << (pass == ops::AttentionPass::kForward ? "forward " : "backward ") << i << " " << names[i]
                         << " " << dtype_name(dt) << " Sq=" << c.sq << " Sk=" << c.sk << " packed=" << packed);
            ops::AttentionVariants variant;
            (pass == ops::AttentionPass::kForward ? variant.forward : variant.backward) = static_cast<int>(i);
            const ops::ScopedAttentionVariants scope(variant);
            const Inputs in = make_inputs(c, d, packed, seed += 10);
            Result got;
            try {
              got = run_gpu(in, c.causal, AttentionImpl::kMma, dt);
            } catch (const Error& e) {
              const std::string what = e.what();
              if (!wgmma || (what.find("compute capability 9.0") == std::string::npos &&
                             what.find("sm_90a") == std::string::npos)) {
                throw;
              }
              std::cout << "[  NOTE    ] " << names[i] << " not run: " << what << "\n";
              continue;
            }
            expect_lowp_match(in, c.causal, dt, got,
                              pass == ops::AttentionPass::kForward ? Compared::kForward : Compared::kBackward);
          }
        }
      }
    }
  }
}

// $ATTNCAMP_ATTENTION_AUTOTUNE=1: the first call of each class times the variants on its own
// buffers (outputs poisoned first) and still returns the CPU's results; the report names the class
// and the choice.
TEST(CudaAttention, AutotunedCallsMatchCpuF64) {
  ATTNCAMP_REQUIRE_GPU();
  test::ScopedEnv deterministic(env::kDeterministic, "0");
  test::ScopedEnv autotune(env::kAttentionAutotune, "1");
  uint64_t seed = 4500;
  for (const int64_t d : {64, 128}) {
    for (const Case& c : {Case{300, 300, true, true}, Case{100, 57, false, false}}) {
      SCOPED_TRACE(testing::Message() << "D=" << d << " Sq=" << c.sq << " Sk=" << c.sk);
      const Inputs in = make_inputs(c, d, false, seed += 10);
      for (int call = 0; call < 2; ++call) {  // tuned, then the remembered choice
        expect_lowp_match(in, c.causal, DType::kBF16, run_gpu(in, c.causal, AttentionImpl::kMma, DType::kBF16),
                          Compared::kBoth);
      }
    }
  }
  const std::vector<std::string> report = ops::attention_autotune_report();
  auto has = [&](const std::string& what) {
    for (const std::string& line : report) {
      if (line.find(what) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("forward bf16 D64 causal masked B*H<=4 Sq<=512 Sk<=512")) << testing::PrintToString(report);
  EXPECT_TRUE(has("backward bf16 D128 B*H<=4 Sq<=128 Sk<=64")) << testing::PrintToString(report);
}

TEST(CudaAttention, VariantChoicesNameTheProblem) {
  ATTNCAMP_REQUIRE_GPU();
  test::ScopedEnv deterministic(env::kDeterministic, "0");
  const Inputs in = map_inputs(make_inputs({9, 9, false, false}, 64, false, 5),
                               [](const Tensor& t) { return test::to_gpu(t, DType::kBF16); });
  Tensor out = Tensor::empty(in.q.shape(), DType::kBF16, Device::cuda(0));
  Tensor lse = Tensor::empty({kBatch, kHeads, 9}, DType::kF32, Device::cuda(0));
  Tensor dq = Tensor::empty(in.q.shape(), DType::kBF16, Device::cuda(0));
  Tensor dk = Tensor::empty(in.q.shape(), DType::kBF16, Device::cuda(0));
  Tensor dv = Tensor::empty(in.q.shape(), DType::kBF16, Device::cuda(0));
  ops::AttentionOptions opt;
  ops::AttentionVariants variants;
  variants.forward = 99;
  {
    const ops::ScopedAttentionVariants scope(variants);
    test::expect_error([&] { ops::attention_forward(in.q, in.k, in.v, Tensor(), opt, out, lse); },
                       {"forward variant 99", "out of range", "bf16", "head dim 64"});
  }
  variants.forward = -1;
  variants.backward = 1;
  const ops::ScopedAttentionVariants scope(variants);
  opt.impl = AttentionImpl::kSimple;
  ops::attention_forward(in.q, in.k, in.v, Tensor(), opt, out, lse);  // ignores the backward variant
  test::expect_error([&] { ops::attention_backward(in.q, in.k, in.v, Tensor(), opt, out, lse, out, dq, dk, dv); },
                     {"backward variant 1", "simple"});
  opt.impl = AttentionImpl::kMma;
  opt.deterministic = true;
  test::expect_error([&] { ops::attention_backward(in.q, in.k, in.v, Tensor(), opt, out, lse, out, dq, dk, dv); },
                     {"backward variant 1", "deterministic"});
  opt.deterministic = false;
  variants.backward = -2;
  const ops::ScopedAttentionVariants negative(variants);
  test::expect_error([&] { ops::attention_backward(in.q, in.k, in.v, Tensor(), opt, out, lse, out, dq, dk, dv); },
                     {"backward variant", "-2"});
}

// The variant choice belongs to the calling thread and scopes nest: host state, runs on every
// machine.
TEST(CudaAttention, ScopedVariantsNestAndRestore) {
  EXPECT_EQ(ops::current_attention_variants().forward, -1);
  EXPECT_EQ(ops::current_attention_variants().backward, -1);
  ops::AttentionVariants outer;
  outer.forward = 3;
  {
    const ops::ScopedAttentionVariants a(outer);
    EXPECT_EQ(ops::current_attention_variants().forward, 3);
    ops::AttentionVariants inner;
    inner.backward = 2;
    {
      const ops::ScopedAttentionVariants b(inner);
      EXPECT_EQ(ops::current_attention_variants().forward, -1);
      EXPECT_EQ(ops::current_attention_variants().backward, 2);
      std::thread([] {
        EXPECT_EQ(ops::current_attention_variants().forward, -1);
        EXPECT_EQ(ops::current_attention_variants().backward, -1);
      }).join();
    }
    EXPECT_EQ(ops::current_attention_variants().forward, 3);
    EXPECT_EQ(ops::current_attention_variants().backward, -1);
  }
  EXPECT_EQ(ops::current_attention_variants().forward, -1);
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
  test::ScopedEnv unset(env::kDeterministic, nullptr);
  EXPECT_FALSE(ops::resolve_attention_deterministic(false));
  EXPECT_TRUE(ops::resolve_attention_deterministic(true));
  setenv(env::kDeterministic, "1", 1);
  EXPECT_TRUE(ops::resolve_attention_deterministic(false));
  setenv(env::kDeterministic, "0", 1);
  EXPECT_FALSE(ops::resolve_attention_deterministic(false));
  EXPECT_TRUE(ops::resolve_attention_deterministic(true));
  setenv(env::kDeterministic, "yes", 1);
  test::expect_error([] { ops::resolve_attention_deterministic(false); }, {env::kDeterministic, "0 or 1", "yes"});
}

// Host-side switch of the autotuner: runs on every machine.
TEST(CudaAttention, AutotuneFollowsTheEnvironment) {
  test::ScopedEnv deterministic(env::kDeterministic, "0");
  {
    test::ScopedEnv autotune(env::kAttentionAutotune, nullptr);
    EXPECT_FALSE(ops::attention_autotune_enabled());
  }
  {
    test::ScopedEnv autotune(env::kAttentionAutotune, "1");
    EXPECT_TRUE(ops::attention_autotune_enabled());
    test::ScopedEnv det(env::kDeterministic, "1");
    EXPECT_FALSE(ops::attention_autotune_enabled());
  }
  test::ScopedEnv bad(env::kAttentionAutotune, "on");
  test::expect_error([] { ops::attention_autotune_enabled(); }, {env::kAttentionAutotune, "0 or 1", "on"});
}

// The variant lists are host data (no device is touched): the default first, named by tile shape;
// on devices that run the wgmma kernels the backward's default at D = 64 and 128 is a wgmma one.
TEST(CudaAttention, MmaVariantsListTheDefaultFirst) {
#ifdef ATTNCAMP_WITH_CUDA
  using ops::AttentionPass;
  const std::vector<std::string> fwd = ops::attention_mma_variants(AttentionPass::kForward, DType::kBF16, 64);
  ASSERT_GE(fwd.size(), 2u);
  EXPECT_EQ(fwd[0], "<64,2,4w> n128 q-smem");
  EXPECT_EQ(fwd, ops::attention_mma_variants(AttentionPass::kForward, DType::kF16, 64));
  EXPECT_EQ(ops::attention_mma_variants(AttentionPass::kForward, DType::kBF16, 128)[0], "<128,2,4w> n32 q-smem");
  const std::vector<std::string> bwd = ops::attention_mma_variants(AttentionPass::kBackward, DType::kBF16, 128);
  ASSERT_GE(bwd.size(), 2u);
  EXPECT_EQ(bwd[0], "<128,1,4w> q32");
  const std::vector<std::string> bwd64 = ops::attention_mma_variants(AttentionPass::kBackward, DType::kBF16, 64);
  for (const DType dt : {DType::kBF16, DType::kF16}) {
    for (const int64_t d : {32, 64, 128}) {
      for (const bool wgmma : {false, true}) {
        SCOPED_TRACE(testing::Message() << dtype_name(dt) << " D=" << d << " wgmma=" << wgmma);
        EXPECT_EQ(ops::attention_mma_default_variant(AttentionPass::kForward, dt, d, wgmma), 0);
        const int b = ops::attention_mma_default_variant(AttentionPass::kBackward, dt, d, wgmma);
#ifdef ATTNCAMP_TEST_WGMMA_BUILT
        const bool expect_wgmma = wgmma && d != 32;
#else
        const bool expect_wgmma = false;
#endif
        if (!expect_wgmma) {
          EXPECT_EQ(b, 0);
        } else if (d == 64) {
          ASSERT_TRUE(b > 0 && static_cast<size_t>(b) < bwd64.size());
          EXPECT_EQ(bwd64[static_cast<size_t>(b)], "<64,1,8w> q64 wgmma kv-regs pipelined");
        } else {
          ASSERT_TRUE(b > 0 && static_cast<size_t>(b) < bwd.size());
          EXPECT_EQ(bwd[static_cast<size_t>(b)], "<128,1,8w> q64 wgmma");
        }
      }
    }
  }
  test::expect_error([] { ops::attention_mma_default_variant(AttentionPass::kBackward, DType::kF32, 64, true); },
                     {"bf16 or f16", "f32"});
  test::expect_error([] { ops::attention_mma_default_variant(AttentionPass::kBackward, DType::kBF16, 96, true); },
                     {"head dim", "96"});
  for (const auto& list : {fwd, bwd, ops::attention_mma_variants(AttentionPass::kForward, DType::kBF16, 128),
                           ops::attention_mma_variants(AttentionPass::kBackward, DType::kBF16, 64)}) {
    for (size_t i = 0; i < list.size(); ++i) {
      for (size_t j = 0; j < i; ++j) EXPECT_NE(list[i], list[j]) << "variants " << j << " and " << i;
    }
  }
  EXPECT_EQ(ops::attention_mma_variants(AttentionPass::kForward, DType::kBF16, 32).size(), 1u);
  test::expect_error([] { ops::attention_mma_variants(AttentionPass::kForward, DType::kF32, 64); },
                     {"bf16 or f16", "f32"});
  test::expect_error([] { ops::attention_mma_variants(AttentionPass::kBackward, DType::kBF16, 48); },
                     {"head dim", "48"});
#else
  test::expect_error([] { ops::attention_mma_variants(ops::AttentionPass::kForward, DType::kBF16, 64); },
                     {"without CUDA"});
  test::expect_error([] { ops::attention_mma_default_variant(ops::AttentionPass::kForward, DType::kBF16, 64, false); },
                     {"without CUDA"});
  EXPECT_FALSE(ops::attention_wgmma_runs_on(0));
#endif
}

// Host-side kernel choice: runs on every machine.
TEST(CudaAttention, ResolveImplPicksTensorCoresWhereTheyApply) {
  test::ScopedEnv unset(env::kAttentionImpl, nullptr);
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
}

}  // namespace
}  // namespace attncamp
