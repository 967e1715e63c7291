// Tile-shape sweep of the tensor-core attention kernels (bf16): times the forward, dK/dV and dQ
// kernels, and the dK/dV kernel that also sums dQ with atomics (dkdvq: zeroing, kernel and
// conversion together), for each candidate tile shape on the shapes of attention_bench and on
// ViT-S/16, and checks each against the shipped kernels' results (the deterministic backward's
// for dK, dV and dQ; max |difference|: the kernels differ only in summation order, so it stays
// within a few bf16 ulps of the values). The shapes the launchers ship (AttentionShapes,
// ops/cuda/attention_shapes.cuh) were picked from this table; rerun it when changing a kernel.
// Prints a table: kernel, tile shape, case, time, TFLOP/s, max |diff|.
//
// A tile shape <D, tiles, warps[, blocks]> n|q means: warps warps per block, each owning
// tiles x 16 rows (queries for forward and dQ, keys for dK/dV), walking tiles of n keys
// (forward, dQ) or q queries (dK/dV); blocks is the __launch_bounds__ minimum of blocks per SM
// (which caps the registers per thread), when given.
#include <cuda_bf16.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "benchmarks/gpu/bench_util.h"
#include "ops/attention.h"
#include "ops/cuda/attention_mma_variants.cuh"
#include "runtime/cuda_context.h"
#include "runtime/device.h"
#include "runtime/half.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace {

using attncamp::DType;
using attncamp::Tensor;
using bf16 = __nv_bfloat16;
namespace attn = attncamp::ops::cuda::attn;

struct Case {
  const char* name;
  int64_t b, s, h, d;
};

// Max |a - b| over two bf16 tensors of the same shape (copied to the host).
double max_diff(const Tensor& a, const Tensor& b) {
  const Tensor ha = a.to(attncamp::Device::cpu()), hb = b.to(attncamp::Device::cpu());
  const auto* pa = ha.data<attncamp::BFloat16>();
  const auto* pb = hb.data<attncamp::BFloat16>();
  double m = 0;
  for (int64_t i = 0; i < ha.numel(); ++i) {
    m = std::max(m, static_cast<double>(std::fabs(attncamp::bf16_to_float(pa[i]) - attncamp::bf16_to_float(pb[i]))));
  }
  return m;
}

// One case's inputs, the shipped kernels' results, and buffers for a candidate's results.
struct Problem {
  Case c;
  Tensor q, k, v, dout, out, lse, dq, dk, dv;  // reference (shipped kernels)
  Tensor out2, lse2, dq2, dk2, dv2, delta;     // candidate
  Tensor dq_accum;                             // dkdvq candidates' f32 dQ sums
  attncamp::ops::cuda::AttentionArgs args;     // pointing at the candidate's outputs

  explicit Problem(const Case& cs) : c(cs) {
    const attncamp::Device dev = attncamp::Device::cuda(0);
    const attncamp::Shape shape{c.b, c.s, c.h, c.d};
    q = attncamp::bench::random_cuda(shape, DType::kBF16, 1);
    k = attncamp::bench::random_cuda(shape, DType::kBF16, 2);
    v = attncamp::bench::random_cuda(shape, DType::kBF16, 3);
    dout = attncamp::bench::random_cuda(shape, DType::kBF16, 4);
    auto bf = [&] { return Tensor::empty(shape, DType::kBF16, dev); };
    out = bf(), dq = bf(), dk = bf(), dv = bf(), out2 = bf(), dq2 = bf(), dk2 = bf(), dv2 = bf();
    lse = Tensor::empty({c.b, c.h, c.s}, DType::kF32, dev);
    lse2 = Tensor::empty({c.b, c.h, c.s}, DType::kF32, dev);
    delta = Tensor::empty({c.b, c.h, c.s}, DType::kF32, dev);
    dq_accum = Tensor::empty({c.b, c.h, c.s, c.d}, DType::kF32, dev);
    attncamp::ops::AttentionOptions opt;
    opt.impl = attncamp::ops::AttentionImpl::kMma;
    opt.deterministic = true;
    attncamp::ops::attention_forward(q, k, v, Tensor(), opt, out, lse);
    attncamp::ops::attention_backward(q, k, v, Tensor(), opt, out, lse, dout, dq, dk, dv);

    auto& a = args;
    a.batch = c.b, a.seq_q = a.seq_k = c.s, a.heads = c.h, a.head_dim = c.d;
    a.dtype = DType::kBF16;
    a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.d)));
    a.impl = attncamp::ops::AttentionImpl::kMma;
    a.q = q.raw_data(), a.k = k.raw_data(), a.v = v.raw_data(), a.dout = dout.raw_data();
    a.out = out2.raw_data(), a.lse = lse2.data<float>();
    a.dq = dq2.raw_data(), a.dk = dk2.raw_data(), a.dv = dv2.raw_data(), a.delta = delta.data<float>();
    const attncamp::ops::cuda::SeqStrides st{c.s * c.h * c.d, c.h * c.d, c.d};
    a.q_stride = a.k_stride = a.v_stride = a.out_stride = st;
  }
  // 4 B H S^2 D: the FLOPs of one S x S x D matmul pair.
  double fwd_flops() const {
    return 4.0 * static_cast<double>(c.b * c.h) * static_cast<double>(c.s * c.s) * static_cast<double>(c.d);
  }
};

struct Tuner {
  int warmup, iters;
  cudaStream_t stream;
  const attncamp::Stream& timer_stream;

  void row(const char* kernel, const std::string& shape, const Problem& p, double ms, double flops, double diff) const {
    std::printf("%-6s %-42s %-10s %9.4f %8.1f %10.2e\n", kernel, shape.c_str(), p.c.name, ms,
                flops / (ms * 1e-3) * 1e-12, diff);
    std::fflush(stdout);
  }
  template <class F>
  double time(F fn) const {
    return attncamp::bench::time_ms(fn, warmup, iters, timer_stream);
  }

  // out and lse of the shipped forward shape (which the reference backward read), untimed.
  void shipped_forward(Problem& p) const {
    switch (p.c.d) {
      case 64: attn::launch_mma_forward<bf16, attn::AttentionShapes<64>::Forward>(p.args, stream); break;
      case 128: attn::launch_mma_forward<bf16, attn::AttentionShapes<128>::Forward>(p.args, stream); break;
      default: ATTNCAMP_THROW("attention_tune: no case has head dim ", p.c.d);
    }
  }
  template <class C>
  void fwd(Problem& p) const {
    if (C::kHeadDim != p.c.d) return;
    auto run = [&] { attn::launch_mma_forward<bf16, C>(p.args, stream); };
    const double ms = time(run);
    row(C::kPipelined ? "fwd-p" : "fwd", attn::forward_shape_name<C>(), p, ms, p.fwd_flops(), max_diff(p.out, p.out2));
  }
  template <class C>
  void dkdv(Problem& p) const {
    if (C::kHeadDim != p.c.d) return;
    attn::launch_delta(p.args, stream);  // delta from the candidate forward's out (= reference's)
    auto run = [&] { attn::launch_mma_dkdv<bf16, C>(p.args, stream); };
    const double ms = time(run);
    row("dkdv", attn::tile_shape_name<C>() + " q" + std::to_string(C::kTileQueries), p, ms, 2.0 * p.fwd_flops(),
        std::max(max_diff(p.dk, p.dk2), max_diff(p.dv, p.dv2)));
  }
  template <class C>
  void dkdvq(Problem& p) const {
    if (C::kHeadDim != p.c.d) return;
    attn::launch_delta(p.args, stream);
    attncamp::ops::cuda::AttentionArgs a = p.args;
    a.dq_accum = p.dq_accum.data<float>();
    auto run = [&] { attn::launch_mma_backward_atomic_dq<bf16, C>(a, stream); };
    const double ms = time(run);
    row("dkdvq", attn::dkdv_shape_name<C>(), p, ms, 2.5 * p.fwd_flops(),
        std::max({max_diff(p.dk, p.dk2), max_diff(p.dv, p.dv2), max_diff(p.dq, p.dq2)}));
  }
  template <class C>
  void dq(Problem& p) const {
    if (C::kHeadDim != p.c.d) return;
    auto run = [&] { attn::launch_mma_dq<bf16, C>(p.args, stream); };
    const double ms = time(run);
    row("dq", attn::tile_shape_name<C>() + " n" + std::to_string(C::kTileKeys), p, ms, 1.5 * p.fwd_flops(),
        max_diff(p.dq, p.dq2));
  }
};

template <int D, int T, int N, int W, int B = 1>
using F = attn::MmaFwdConfig<D, T, N, W, B>;
template <int D, int T, int N, int W, int B = 1>
using FP = attn::MmaFwdConfig<D, T, N, W, B, attn::Loop::kPipelined>;  // mma_forward_pipelined_kernel
template <int D, int T, int Q, int W, int B = 1>
using KV = attn::MmaDkdvConfig<D, T, Q, W, B>;
template <int D, int T, int N, int W, int B = 1>
using DQ = attn::MmaDqConfig<D, T, N, W, B>;

// Every variant of a list (the library's MmaFwdVariants, MmaBwdVariants).
template <class... C>
void fwd_all(Problem& p, const Tuner& t, attn::TileList<C...> /*variants*/) {
  (t.fwd<C>(p), ...);
}
template <class... C>
void dkdvq_all(Problem& p, const Tuner& t, attn::TileList<C...> /*variants*/) {
  (t.dkdvq<C>(p), ...);
}

void sweep(Problem& p, const Tuner& t) {
  // Shapes beyond the library's variants: one 16-row tile of 64 keys (the shape before d37575f),
  // 2 tiles of 32 keys, 128-key tiles, 8 warps, FlashAttention-2's hdim-64 tile (128 x 128;
  // spills 60 bytes), one tile of 32 keys at D = 128.
  t.fwd<F<64, 1, 64, 4>>(p);
  t.fwd<F<64, 2, 32, 4>>(p);
  t.fwd<F<64, 2, 32, 4, 3>>(p);
  t.fwd<F<64, 1, 128, 4>>(p);
  t.fwd<F<64, 1, 64, 8>>(p);
  t.fwd<F<64, 2, 128, 4>>(p);
  t.fwd<F<128, 1, 32, 4>>(p);
  fwd_all(p, t, attn::MmaFwdVariants<64>{});
  fwd_all(p, t, attn::MmaFwdVariants<128>{});
  t.shipped_forward(p);  // the backward candidates read out and lse: the shipped forward's
  // The deterministic backward's kernels.
  t.dkdv<KV<64, 1, 64, 4>>(p);
  t.dkdv<KV<64, 1, 32, 4, 3>>(p);
  t.dkdv<KV<64, 2, 32, 8>>(p);
  t.dkdv<KV<64, 2, 16, 8>>(p);
  t.dkdv<KV<64, 2, 32, 2>>(p);
  t.dkdv<KV<64, 2, 32, 4>>(p);
  t.dkdv<KV<128, 1, 16, 4>>(p);
  t.dkdv<KV<128, 1, 32, 8>>(p);
  t.dkdv<KV<128, 1, 32, 4>>(p);
  t.dq<DQ<64, 1, 64, 4>>(p);
  t.dq<DQ<64, 1, 32, 4, 4>>(p);
  t.dq<DQ<64, 2, 32, 4>>(p);
  t.dq<DQ<64, 1, 128, 4>>(p);
  t.dq<DQ<64, 1, 64, 4, 3>>(p);
  t.dq<DQ<128, 1, 64, 4>>(p);
  t.dq<DQ<128, 1, 32, 4>>(p);
  // The atomic-dQ backward: the library's variants.
  dkdvq_all(p, t, attn::MmaBwdVariants<64>{});
  dkdvq_all(p, t, attn::MmaBwdVariants<128>{});
}

int run(int warmup, int iters, const std::string& only_case) {
  ATTNCAMP_CHECK(attncamp::cuda_device_count() > 0, "attention_tune needs a CUDA device; none is visible");
  attncamp::Stream stream(0);
  attncamp::CudaStreamGuard guard(stream);
  const Tuner t{warmup, iters, static_cast<cudaStream_t>(stream.handle()), stream};
  const std::vector<Case> cases = {{"S1024.D64", 16, 1024, 32, 64},
                                   {"S4096.D64", 4, 4096, 32, 64},
                                   {"S256.D64", 64, 256, 32, 64},
                                   {"vit_s16", 128, 197, 6, 64},
                                   {"S1024.D128", 16, 1024, 16, 128}};
  std::printf(
      "bf16 attention kernel tile shapes, mean of %d runs (<D,row tiles per warp,warps> keys|queries per tile)\n",
      iters);
  std::printf("%-6s %-42s %-10s %9s %8s %10s\n", "kernel", "tile shape", "case", "ms", "TFLOP/s", "max|diff|");
  for (const Case& c : cases) {
    if (!only_case.empty() && only_case != c.name) continue;
    Problem p(c);
    sweep(p, t);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tile-shape sweep of the bf16 tensor-core attention kernels (CUDA)"};
  int warmup = 3, iters = 20;
  app.add_option("--warmup", warmup, "untimed runs per kernel")->check(CLI::NonNegativeNumber);
  app.add_option("--iters", iters, "timed runs per kernel")->check(CLI::PositiveNumber);
  std::string only_case;
  app.add_option("--case", only_case, "run only this case (S1024.D64, S4096.D64, S256.D64, vit_s16, S1024.D128)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(warmup, iters, only_case);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attention_tune: %s\n", e.what());
    return 1;
  }
}
