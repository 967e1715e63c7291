// CPU emulation of the tensor-core attention kernels: g++ compiles the real kernel headers
// (ops/cuda/attention_mma_{fwd,bwd}.cuh and the delta pre-kernel of attention_simple.cuh) with
// tests/emu's shadow of ops/cuda/attention_warp.cuh, which emulates the PTX semantics of mma.sync,
// ldmatrix, cp.async and the shuffles on the host. The forward and the whole backward chain (delta,
// dK/dV, dQ kernels) run through the emulator and are compared with the CPU reference in f64 under
// the GPU parity tests' rule, max|out - ref64| <= 2 max|ref32 - ref64| + eps (both take their
// inputs, reference runs and eps from attention_test_cases.h). This checks kernel logic (fragment
// layouts, addressing, masking, cp.async ordering) in CI without a GPU; it is not a substitute for
// the GPU parity tests (no hardware rounding, timing or memory model).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cuda_emu.h"  // before the kernel headers: the CUDA built-ins they use under g++
#include "ops/attention.h"
#include "ops/cuda/attention_simple.cuh"
#include "ops/cuda/attention_variants.cuh"
#include "tests/cuda_test_util.h"
#include "tests/ops/attention_test_cases.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

namespace attn = ops::cuda::attn;
using ops::cuda::AttentionArgs;
using ops::cuda::SeqStrides;

using test::attention::Case;
using test::attention::Compared;
using test::attention::expect_lowp_match;
using test::attention::Inputs;
using test::attention::kHeads;
using test::attention::lse_diff;
using test::attention::make_inputs;
using test::attention::map_inputs;
using test::attention::part;
using test::attention::Result;

// Ragged tails around the 16/32/64/128-row tiles, Sq != Sk both ways (kept small: every mma is
// emulated lane by lane).
const std::vector<Case> kCases = {{1, 1, false, false},    {17, 17, true, true},     {100, 57, true, false},
                                  {33, 100, false, true},  {130, 130, false, false}, {257, 257, true, true},
                                  {257, 64, false, false}, {1, 257, true, true}};

// Interleavings of a block's threads (emu::Schedule), cycled through by the runs.
struct Sched {
  emu::Schedule schedule;
  bool reverse;
  const char* name;
};
const std::vector<Sched> kScheds = {{emu::Schedule::kWarpByWarp, false, "warp-by-warp"},
                                    {emu::Schedule::kLockstep, true, "lockstep-reversed"},
                                    {emu::Schedule::kWarpByWarp, true, "warp-by-warp-reversed"},
                                    {emu::Schedule::kLockstep, false, "lockstep"}};

template <typename T>
constexpr DType kDType = std::is_same_v<T, __half> ? DType::kF16 : DType::kBF16;

// Grid (ceil(n / tile), H, B), as attention_grid in ops/cuda/attention_launch.cuh.
dim3 grid_for(int64_t n, int tile, const AttentionArgs& a) {
  return dim3(static_cast<unsigned>((n + tile - 1) / tile), static_cast<unsigned>(a.heads),
              static_cast<unsigned>(a.batch));
}

emu::Buffer buffer(const Tensor& t) { return {t.raw_data(), t.nbytes()}; }

// What a run checks: the forward (out, lse), or the forward then the backward chain (dq, dk, dv):
// the delta kernel, then the dK/dV and dQ kernels or the dK/dV kernel summing dQ with atomics
// and the dQ conversion kernel.
enum class Pass { kForward, kBackward, kBackwardAtomicDq };

// A run's buffers (host memory standing for device memory) and the kernel arguments into them.
struct Run {
  Inputs in;  // in the kernel's dtype
  Tensor out, lse, delta, dq_accum, dqkv, dq, dk, dv;
  AttentionArgs a;
  emu::LaunchOptions opt;
};

// Inputs in the kernel's dtype, outputs and workspaces poisoned, unpacked [B,S,H,D] strides or
// packed [B,S,3,H,D] ones (q, k, v and their gradients at offsets 0, H D, 2 H D of a row).
template <typename T>
Run make_run(const Inputs& in64, bool causal, int64_t d, const Sched& sched) {
  constexpr DType dt = kDType<T>;
  Run r;
  r.in = map_inputs(in64, [&](const Tensor& t) { return test::to_dtype(t, dt); });
  const Inputs& in = r.in;
  AttentionArgs& a = r.a;
  const Tensor& ql = in.packed ? in.qkv : in.q;
  a.batch = ql.size(0);
  a.seq_q = ql.size(1);
  a.seq_k = in.packed ? a.seq_q : in.k.size(1);
  a.heads = kHeads;
  a.head_dim = d;
  a.dtype = dt;
  a.causal = causal;
  a.scale = static_cast<float>(1 / std::sqrt(static_cast<double>(d)));
  a.impl = ops::AttentionImpl::kMma;
  a.key_valid = in.mask.defined() ? in.mask.data<uint8_t>() : nullptr;
  const int64_t hd = kHeads * d;
  if (in.packed) {
    const T* base = static_cast<const T*>(in.qkv.raw_data());
    a.q = base;
    a.k = base + hd;
    a.v = base + 2 * hd;
    a.q_stride = a.k_stride = a.v_stride = SeqStrides{a.seq_q * 3 * hd, 3 * hd, d};
    r.dqkv = Tensor::empty(in.qkv.shape(), dt);
    r.dqkv.poison();
    T* g = static_cast<T*>(r.dqkv.raw_data());
    a.dq = g;
    a.dk = g + hd;
    a.dv = g + 2 * hd;
  } else {
    a.q = in.q.raw_data();
    a.k = in.k.raw_data();
    a.v = in.v.raw_data();
    a.q_stride = SeqStrides{a.seq_q * hd, hd, d};
    a.k_stride = a.v_stride = SeqStrides{a.seq_k * hd, hd, d};
    r.dq = Tensor::empty(in.q.shape(), dt);
    r.dk = Tensor::empty(in.k.shape(), dt);
    r.dv = Tensor::empty(in.v.shape(), dt);
    for (Tensor* t : {&r.dq, &r.dk, &r.dv}) t->poison();
    a.dq = r.dq.raw_data();
    a.dk = r.dk.raw_data();
    a.dv = r.dv.raw_data();
  }
  r.out = Tensor::empty({a.batch, a.seq_q, kHeads, d}, dt);
  r.lse = Tensor::empty({a.batch, kHeads, a.seq_q}, DType::kF32);
  r.delta = Tensor::empty({a.batch, kHeads, a.seq_q}, DType::kF32);
  r.dq_accum = Tensor::empty({a.batch, kHeads, a.seq_q, d}, DType::kF32);
  for (Tensor* t : {&r.out, &r.lse, &r.delta, &r.dq_accum}) t->poison();
  a.out = r.out.raw_data();
  a.out_stride = SeqStrides{a.seq_q * hd, hd, d};
  a.lse = r.lse.data<float>();
  a.dout = in.dout.raw_data();
  a.delta = r.delta.data<float>();
  r.opt.schedule = sched.schedule;
  r.opt.reverse = sched.reverse;
  r.opt.global = {buffer(in.dout), buffer(r.lse), buffer(r.delta)};
  for (const Tensor* t : {&in.q, &in.k, &in.v, &in.qkv}) {
    if (t->defined()) r.opt.global.push_back(buffer(*t));
  }
  return r;
}

// The kernels of `pass` for head dim kD through the emulator, with grids, blocks and shared
// memory as ops/cuda/attention_mma_launchers.cuh and attention_simple.cu launch them; the forward
// and the atomic-dQ backward with tile shapes Fwd and Dkdvq (the shipped ones by default).
template <typename T, int kD, class Fwd = typename attn::AttentionShapes<kD>::Forward,
          class Dkdvq = typename attn::AttentionShapes<kD>::Backward>
void run_kernels(Run& r, Pass pass) {
  AttentionArgs& a = r.a;
  emu::launch(
      grid_for(a.seq_q, Fwd::kM, a), dim3(Fwd::kThreads), Fwd::kSmemBytes,
      [&] {
        if constexpr (Fwd::kWgmma && Fwd::kPipelined) {
          attn::wgmma_forward_pipelined_kernel<T, Fwd>(a);
        } else if constexpr (Fwd::kWgmma) {
          attn::wgmma_forward_kernel<T, Fwd>(a);
        } else if constexpr (Fwd::kPipelined) {
          attn::mma_forward_pipelined_kernel<T, Fwd>(a);
        } else {
          attn::mma_forward_kernel<T, Fwd>(a);
        }
      },
      r.opt);
  if (pass == Pass::kForward) return;
  constexpr int kThreads = 256;  // delta and dQ conversion kernels
  const int64_t delta_threads = a.batch * a.seq_q * a.heads * (kD / 8);
  emu::launch(
      dim3(static_cast<unsigned>((delta_threads + kThreads - 1) / kThreads)), dim3(kThreads), 0,
      [&] { attn::attention_delta_vec_kernel<T>(a); }, r.opt);
  if (pass == Pass::kBackward) {
    using Dkdv = typename attn::AttentionShapes<kD>::DeterministicDkdv;
    using Dq = typename attn::AttentionShapes<kD>::DeterministicDq;
    emu::launch(
        grid_for(a.seq_k, Dkdv::kKeys, a), dim3(Dkdv::kThreads), Dkdv::kSmemBytes,
        [&] { attn::mma_dkdv_kernel<T, Dkdv>(a); }, r.opt);
    emu::launch(
        grid_for(a.seq_q, Dq::kRows, a), dim3(Dq::kThreads), Dq::kSmemBytes, [&] { attn::mma_dq_kernel<T, Dq>(a); },
        r.opt);
    return;
  }
  r.dq_accum.fill(0);
  a.dq_accum = r.dq_accum.data<float>();
  r.opt.global.push_back(buffer(r.dq_accum));
  emu::launch(
      grid_for(a.seq_k, Dkdvq::kKeys, a), dim3(Dkdvq::kThreads), Dkdvq::smem_bytes(attn::DkdvDq::kAtomic),
      [&] {
        if constexpr (Dkdvq::kWgmma) {
          attn::wgmma_dkdvq_kernel<T, Dkdvq>(a);
        } else {
          attn::mma_dkdv_kernel<T, Dkdvq, attn::DkdvDq::kAtomic>(a);
        }
      },
      r.opt);
  const int64_t chunks = a.batch * a.heads * a.seq_q * kD / 8;
  emu::launch(
      dim3(static_cast<unsigned>((chunks + kThreads - 1) / kThreads)), dim3(kThreads), 0,
      [&] { attn::mma_dq_convert_kernel<T, kD>(a); }, r.opt);
}

// The outputs of a run (of `pass` on inputs `in`) as CPU f64.
Result collect(const Run& r, const Inputs& in, Pass pass) {
  Result res;
  res.out = test::to_dtype(r.out, DType::kF64);
  res.lse = test::to_dtype(r.lse, DType::kF64);
  if (pass == Pass::kForward) return res;
  if (in.packed) {
    res.dq = part(r.dqkv, 0);
    res.dk = part(r.dqkv, 1);
    res.dv = part(r.dqkv, 2);
  } else {
    res.dq = test::to_dtype(r.dq, DType::kF64);
    res.dk = test::to_dtype(r.dk, DType::kF64);
    res.dv = test::to_dtype(r.dv, DType::kF64);
  }
  return res;
}

// One case through the emulator with the shipped tile shapes, its outputs as CPU f64.
template <typename T>
Result run_emu(const Inputs& in, int64_t d, bool causal, Pass pass, const Sched& sched) {
  Run r = make_run<T>(in, causal, d, sched);
  switch (d) {
    case 32: run_kernels<T, 32>(r, pass); break;
    case 64: run_kernels<T, 64>(r, pass); break;
    default: run_kernels<T, 128>(r, pass); break;
  }
  return collect(r, in, pass);
}

// One case through the emulator against the CPU in f64: out and lse, or dq, dk and dv.
template <typename T>
void check_case(const Inputs& in, int64_t d, bool causal, Pass pass, const Sched& sched) {
  expect_lowp_match(in, causal, kDType<T>, run_emu<T>(in, d, causal, pass, sched),
                    pass == Pass::kForward ? Compared::kForward : Compared::kBackward);
}

// Every case of `cases` for head dims `dims`, unpacked and (Sq == Sk) packed, cycling through
// the thread schedules.
template <typename T>
void check_all(const std::vector<int64_t>& dims, const std::vector<Case>& cases, Pass pass) {
  uint64_t seed = 2000;
  size_t run = 0;
  for (const int64_t d : dims) {
    for (const Case& c : cases) {
      for (const bool packed : {false, true}) {
        if (packed && c.sq != c.sk) continue;
        SCOPED_TRACE(testing::Message() << dtype_name(kDType<T>) << " D=" << d << " Sq=" << c.sq << " Sk=" << c.sk
                                        << " causal=" << c.causal << " masked=" << c.masked << " packed=" << packed
                                        << " schedule=" << kScheds[run % kScheds.size()].name);
        check_case<T>(make_inputs(c, d, packed, seed), d, c.causal, pass, kScheds[run % kScheds.size()]);
        seed += 10;
        ++run;
      }
    }
  }
}

TEST(EmuAttention, MmaForwardBf16MatchesCpu) { check_all<__nv_bfloat16>({32, 64, 128}, kCases, Pass::kForward); }

TEST(EmuAttention, MmaBackwardBf16MatchesCpu) { check_all<__nv_bfloat16>({32, 64, 128}, kCases, Pass::kBackward); }

TEST(EmuAttention, MmaBackwardAtomicDqBf16MatchesCpu) {
  check_all<__nv_bfloat16>({32, 64, 128}, kCases, Pass::kBackwardAtomicDq);
}

TEST(EmuAttention, MmaF16MatchesCpu) {
  const std::vector<Case> cases = {kCases[1], kCases[4]};
  check_all<__half>({64}, cases, Pass::kForward);
  check_all<__half>({64}, cases, Pass::kBackward);
  check_all<__half>({64}, cases, Pass::kBackwardAtomicDq);
}

// Every tile-shape variant the library can pick (MmaFwdVariants, MmaBwdVariants: by index or by
// the autotuner; 2 and 8 warps, 64-key dK/dV row tiles, 4 query row tiles in the dQ split, the
// pipelined forward) on a causal masked case, a causal ragged one and an unmasked one whose full
// tiles take the unmasked path: forward variants with the default backward shape and backward
// variants after the default forward.
template <class Fwd, class Dkdvq>
void check_shapes(Pass pass) {
  static_assert(Fwd::kHeadDim == Dkdvq::kHeadDim, "one head dim per check");
  constexpr int kD = Fwd::kHeadDim;
  uint64_t seed = 5000;
  size_t run = 0;
  for (const Case& c : {kCases[5], kCases[3], kCases[4]}) {
    const Sched& sched = kScheds[run++ % kScheds.size()];
    SCOPED_TRACE(testing::Message() << "fwd " << attn::forward_shape_name<Fwd>() << ", dkdvq "
                                    << attn::dkdv_shape_name<Dkdvq>() << " Sq=" << c.sq << " Sk=" << c.sk
                                    << " schedule=" << sched.name);
    const Inputs in = make_inputs(c, kD, false, seed += 10);
    Run r = make_run<__nv_bfloat16>(in, c.causal, kD, sched);
    run_kernels<__nv_bfloat16, kD, Fwd, Dkdvq>(r, pass);
    expect_lowp_match(in, c.causal, DType::kBF16, collect(r, in, pass),
                      pass == Pass::kForward ? Compared::kForward : Compared::kBackward);
  }
}

template <int kD, class... Fwd>
void check_forward_variants(attn::TileList<Fwd...> /*variants*/) {
  (check_shapes<Fwd, typename attn::AttentionShapes<kD>::Backward>(Pass::kForward), ...);
}
template <int kD, class... Dkdvq>
void check_backward_variants(attn::TileList<Dkdvq...> /*variants*/) {
  (check_shapes<typename attn::AttentionShapes<kD>::Forward, Dkdvq>(Pass::kBackwardAtomicDq), ...);
}

TEST(EmuAttention, EveryTileShapeVariantMatchesCpu) {
  check_forward_variants<64>(attn::MmaFwdVariants<64>{});
  check_forward_variants<128>(attn::MmaFwdVariants<128>{});
  check_backward_variants<64>(attn::MmaBwdVariants<64>{});
  check_backward_variants<128>(attn::MmaBwdVariants<128>{});
}

// A negative scale is folded into Q's sign bits (by FwdRows in the mma.sync forward, in the
// shared-memory Q tile in the wgmma one): scale -c on q gives, bit for bit, what scale c on -q gives.
template <class Fwd>
void check_negative_scale() {
  constexpr int kD = Fwd::kHeadDim;
  SCOPED_TRACE(testing::Message() << "fwd " << attn::forward_shape_name<Fwd>());
  const Case& c = kCases[5];
  const Inputs in = make_inputs(c, kD, false, 6000);
  Inputs neg = in;
  neg.q = in.q.clone();
  for (int64_t i = 0; i < neg.q.numel(); ++i) neg.q.data<double>()[i] = -neg.q.data<double>()[i];
  Run folded = make_run<__nv_bfloat16>(in, c.causal, kD, kScheds[1]);
  folded.a.scale = -folded.a.scale;
  run_kernels<__nv_bfloat16, kD, Fwd>(folded, Pass::kForward);
  Run plain = make_run<__nv_bfloat16>(neg, c.causal, kD, kScheds[1]);
  run_kernels<__nv_bfloat16, kD, Fwd>(plain, Pass::kForward);
  EXPECT_EQ(test::max_abs_diff(test::to_dtype(folded.out, DType::kF64), test::to_dtype(plain.out, DType::kF64)), 0.0);
  EXPECT_EQ(lse_diff(test::to_dtype(folded.lse, DType::kF64), test::to_dtype(plain.lse, DType::kF64)), 0.0);
}

TEST(EmuAttention, NegativeScaleFoldsIntoQ) {
  using attn::Loop;
  using attn::QFrom;
  check_negative_scale<attn::AttentionShapes<64>::Forward>();
  check_negative_scale<attn::WgmmaFwdConfig<64, 128, 2>>();
  check_negative_scale<attn::WgmmaFwdConfig<128, 64, 1>>();
  check_negative_scale<attn::WgmmaFwdConfig<64, 64, 1, 3, Loop::kPipelined>>();
  check_negative_scale<attn::WgmmaFwdConfig<64, 128, 1, 1, Loop::kPipelined, QFrom::kRegisters>>();
}

}  // namespace
}  // namespace attncamp
