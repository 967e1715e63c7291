// Fused attention throughput on CUDA (bf16): forward, and forward + backward, for B*S = 16384
// tokens and H*D = 2048 at S in {256, 1024, 4096} and D in {64, 128} (H = 2048 / D), timed with
// CUDA events on one stream after warmup runs. FLOPs: forward 4*B*H*S^2*D (two matmuls), backward
// 2.5x that, so forward + backward counts 3.5x (halved with --causal). Prints a table last: what,
// shape, time, TFLOP/s, the peer's TFLOP/s and the ratio (peer: benchmarks/peers/attention_torch.py,
// torch SDPA, read with --peer). fwdbwd rows run the default backward (tensor cores: dQ summed with
// atomics), fwdbwd-det rows the deterministic one, fwd-tuned and fwdbwd-tuned rows the tile
// shapes the autotuner picks ($ATTNCAMP_ATTENTION_AUTOTUNE=1; printed after the table), all against
// the peer's fwd or fwdbwd; the tuned outputs' largest difference from the default kernels' follows
// (a wrong variant would show there, not only in the parity tests).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "benchmarks/gpu/bench_util.h"
#include "ops/attention.h"
#include "ops/attention_lab.h"
#include "ops/cast.h"
#include "runtime/cuda_context.h"
#include "runtime/device.h"
#include "runtime/env.h"
#include "runtime/half.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace {

using attncamp::DType;
using attncamp::Tensor;

constexpr int64_t kTokens = 16384;
constexpr int64_t kModelDim = 2048;  // H * D

struct Case {
  int64_t b, s, h, d;
};

std::vector<Case> cases() {
  std::vector<Case> c;
  for (const int64_t s : {256, 1024, 4096}) {
    for (const int64_t d : {64, 128}) c.push_back({kTokens / s, s, kModelDim / d, d});
  }
  return c;
}

std::string label(const char* what, const Case& c) {
  return std::string(what) + ".S" + std::to_string(c.s) + ".D" + std::to_string(c.d);
}

std::string shape_label(const Case& c) {
  return std::to_string(c.b) + "x" + std::to_string(c.s) + "x" + std::to_string(c.h) + "x" + std::to_string(c.d);
}

Tensor random_bf16(const attncamp::Shape& shape, uint64_t seed) {
  return attncamp::bench::random_cuda(shape, DType::kBF16, seed);
}

struct Timing {
  double fwd_ms, fwdbwd_ms, fwdbwd_det_ms, fwd_tuned_ms, fwdbwd_tuned_ms;
  double tuned_diff;  // max |tuned - default| over out, dq, dk, dv: a wrong variant shows here
};

// A CUDA tensor's values as host f32.
Tensor host_f32(const Tensor& t) {
  Tensor f = Tensor::empty(t.shape(), DType::kF32, t.device());
  attncamp::ops::cast(t, f);
  return f.to(attncamp::Device::cpu());
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    m = std::max(m, std::fabs(static_cast<double>(a.data<float>()[i]) - static_cast<double>(b.data<float>()[i])));
  }
  return m;
}

// The fwd and fwdbwd rows run `variants` (-1: the shipped shapes), the fwdbwd-det rows its forward
// variant, the tuned rows the autotuner's choices.
Timing time_case(const Case& c, const attncamp::ops::AttentionOptions& opt, attncamp::ops::AttentionVariants variants,
                 bool tuned_rows, int warmup, int iters, const attncamp::Stream& stream) {
  const attncamp::Device dev = attncamp::Device::cuda(0);
  const Tensor q = random_bf16({c.b, c.s, c.h, c.d}, 1), k = random_bf16({c.b, c.s, c.h, c.d}, 2);
  const Tensor v = random_bf16({c.b, c.s, c.h, c.d}, 3), dout = random_bf16({c.b, c.s, c.h, c.d}, 4);
  Tensor out = Tensor::empty(q.shape(), DType::kBF16, dev), lse = Tensor::empty({c.b, c.h, c.s}, DType::kF32, dev);
  Tensor dq = Tensor::empty(q.shape(), DType::kBF16, dev), dk = Tensor::empty(q.shape(), DType::kBF16, dev);
  Tensor dv = Tensor::empty(q.shape(), DType::kBF16, dev);
  auto fwd = [&] { attncamp::ops::attention_forward(q, k, v, Tensor(), opt, out, lse); };
  attncamp::ops::AttentionOptions det = opt;
  det.deterministic = true;
  attncamp::ops::AttentionVariants det_variants = variants;
  det_variants.backward = -1;  // the deterministic backward has one shape
  auto fwdbwd_with = [&](const attncamp::ops::AttentionOptions& o) {
    return [&, o] {
      fwd();
      attncamp::ops::attention_backward(q, k, v, Tensor(), o, out, lse, dout, dq, dk, dv);
    };
  };
  Timing t{};
  {
    const attncamp::ops::ScopedAttentionVariants scope(variants);
    t.fwd_ms = attncamp::bench::time_ms(fwd, warmup, iters, stream);
    t.fwdbwd_ms = attncamp::bench::time_ms(fwdbwd_with(opt), warmup, iters, stream);
  }
  {
    const attncamp::ops::ScopedAttentionVariants scope(det_variants);
    t.fwdbwd_det_ms = attncamp::bench::time_ms(fwdbwd_with(det), warmup, iters, stream);
  }
  if (opt.impl == attncamp::ops::AttentionImpl::kSimple || !tuned_rows) return t;  // no tile-shape variants
  {
    const attncamp::ops::ScopedAttentionVariants scope(variants);
    fwdbwd_with(opt)();
  }
  const std::vector<Tensor> want = {host_f32(out), host_f32(dq), host_f32(dk), host_f32(dv)};
  // Autotuned (outside every ScopedAttentionVariants): the first (warmup) call of each class times
  // the variants.
  const attncamp::env::Scoped autotune(attncamp::env::kAttentionAutotune, "1");
  t.fwd_tuned_ms = attncamp::bench::time_ms(fwd, std::max(warmup, 1), iters, stream);
  t.fwdbwd_tuned_ms = attncamp::bench::time_ms(fwdbwd_with(opt), std::max(warmup, 1), iters, stream);
  const std::vector<Tensor> got = {host_f32(out), host_f32(dq), host_f32(dk), host_f32(dv)};
  for (size_t i = 0; i < got.size(); ++i) t.tuned_diff = std::max(t.tuned_diff, max_abs_diff(got[i], want[i]));
  return t;
}

attncamp::ops::AttentionImpl parse_impl(const std::string& s) {
  if (s == "simple") return attncamp::ops::AttentionImpl::kSimple;
  if (s == "mma") return attncamp::ops::AttentionImpl::kMma;
  return attncamp::ops::AttentionImpl::kAuto;
}

int run(int warmup, int iters, bool causal, const std::string& impl, int forward_variant, int backward_variant,
        bool no_tuned, const std::string& peer_path) {
  ATTNCAMP_CHECK(attncamp::cuda_device_count() > 0, "attention_bench needs a CUDA device; none is visible");
  const std::map<std::string, double> peer = attncamp::bench::read_peer(peer_path, "attention_torch.py");
  attncamp::Stream stream(0);
  attncamp::CudaStreamGuard guard(stream);
  attncamp::ops::AttentionOptions opt;
  opt.causal = causal;
  opt.impl = parse_impl(impl);
  attncamp::ops::AttentionVariants variants;
  variants.forward = forward_variant;
  variants.backward = backward_variant;
  const bool tensor_cores = opt.impl != attncamp::ops::AttentionImpl::kSimple;  // bf16, D 64 and 128
  const bool tuned_rows = tensor_cores && !no_tuned;
  for (const auto pass : {attncamp::ops::AttentionPass::kForward, attncamp::ops::AttentionPass::kBackward}) {
    if (!tensor_cores) break;
    const std::vector<std::string> names = attncamp::ops::attention_mma_variants(pass, DType::kBF16, 64);
    std::printf("%s variants at D = 64:", pass == attncamp::ops::AttentionPass::kForward ? "forward" : "backward");
    for (size_t i = 0; i < names.size(); ++i) std::printf(" %zu: %s;", i, names[i].c_str());
    std::printf("\n");
  }
  struct Row {
    std::string what, peer_key, shape;
    double ms, tflops;
  };
  std::vector<Row> rows;
  std::vector<std::string> checks;
  for (const Case& c : cases()) {
    const Timing t = time_case(c, opt, variants, tuned_rows, warmup, iters, stream);
    char check[160];
    std::snprintf(check, sizeof(check), "%s: max |tuned - default| over out, dq, dk, dv = %.4g", shape_label(c).c_str(),
                  t.tuned_diff);
    checks.emplace_back(check);
    const double fwd_flops = 4.0 * static_cast<double>(c.b * c.h) * static_cast<double>(c.s * c.s) *
                             static_cast<double>(c.d) * (causal ? 0.5 : 1.0);
    auto tflops = [](double flops, double ms) { return flops / (ms * 1e-3) * 1e-12; };
    rows.push_back({label("fwd", c), label("fwd", c), shape_label(c), t.fwd_ms, tflops(fwd_flops, t.fwd_ms)});
    rows.push_back(
        {label("fwdbwd", c), label("fwdbwd", c), shape_label(c), t.fwdbwd_ms, tflops(3.5 * fwd_flops, t.fwdbwd_ms)});
    rows.push_back({label("fwdbwd-det", c), label("fwdbwd", c), shape_label(c), t.fwdbwd_det_ms,
                    tflops(3.5 * fwd_flops, t.fwdbwd_det_ms)});
    if (tuned_rows) {
      rows.push_back(
          {label("fwd-tuned", c), label("fwd", c), shape_label(c), t.fwd_tuned_ms, tflops(fwd_flops, t.fwd_tuned_ms)});
      rows.push_back({label("fwdbwd-tuned", c), label("fwdbwd", c), shape_label(c), t.fwdbwd_tuned_ms,
                      tflops(3.5 * fwd_flops, t.fwdbwd_tuned_ms)});
    }
  }
  std::printf("\nbf16 attention (%s kernels%s), B*S = %lld tokens, H*D = %lld, mean of %d runs\n", impl.c_str(),
              causal ? ", causal" : "", static_cast<long long>(kTokens), static_cast<long long>(kModelDim), iters);
  std::printf("%-22s %-18s %10s %10s %12s %7s\n", "what", "shape BxSxHxD", "time ms", "TFLOP/s", "peer TFLOP/s",
              "ratio");
  for (const Row& r : rows) {
    auto it = peer.find(r.peer_key);
    if (it == peer.end()) {
      std::printf("%-22s %-18s %10.4f %10.1f %12s %7s\n", r.what.c_str(), r.shape.c_str(), r.ms, r.tflops, "-", "-");
    } else {
      std::printf("%-22s %-18s %10.4f %10.1f %12.1f %7.2f\n", r.what.c_str(), r.shape.c_str(), r.ms, r.tflops,
                  it->second, r.tflops / it->second);
    }
  }
  if (tuned_rows) {
    std::printf("\nautotuned tile shapes (fwd-tuned, fwdbwd-tuned rows; variant: time of one call):\n");
    for (const std::string& line : attncamp::ops::attention_autotune_report()) std::printf("  %s\n", line.c_str());
    std::printf("\ntuned against default outputs (bf16 rounding of the same sums: a few 1e-3 at most):\n");
    for (const std::string& line : checks) std::printf("  %s\n", line.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bf16 fused attention benchmark (CUDA), forward and forward + backward"};
  int warmup = 5, iters = 20;
  bool causal = false;
  std::string impl = "auto", peer;
  app.add_option("--warmup", warmup, "untimed runs per shape")->check(CLI::NonNegativeNumber);
  app.add_option("--iters", iters, "timed runs per shape")->check(CLI::PositiveNumber);
  app.add_flag("--causal", causal, "causal masking (FLOPs counted as half)");
  app.add_option("--impl", impl, "kernel family: auto, simple or mma")->check(CLI::IsMember({"auto", "simple", "mma"}));
  app.add_option("--peer", peer, "TSV written by benchmarks/peers/attention_torch.py --tsv (adds peer and ratio)");
  int forward_variant = -1, backward_variant = -1;
  app.add_option("--forward-variant", forward_variant,
                 "tensor-core forward tile shape for the fwd and fwdbwd rows (index printed first; -1: default)")
      ->check(CLI::Range(-1, 64));
  app.add_option("--backward-variant", backward_variant,
                 "atomic-dQ backward tile shape for the fwdbwd rows (index printed first; -1: default)")
      ->check(CLI::Range(-1, 64));
  bool no_tuned = false;
  app.add_flag("--no-tuned", no_tuned,
               "skip the autotuned rows (a variant that faults on the device would take the whole table with it)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(warmup, iters, causal, impl, forward_variant, backward_variant, no_tuned, peer);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attention_bench: %s\n", e.what());
    return 1;
  }
}
