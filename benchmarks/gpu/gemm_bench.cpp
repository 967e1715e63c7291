// bf16 GEMM throughput on the ViT-S/16 training shapes (tokens N = batch * 197, dim 384, qkv 1152,
// MLP 1536): per linear layer the forward y = x W^T, and the backward dx = dy W and dW += dy^T x
// (f32 accumulate, as training does), each through ops::gemm on CUDA (cuBLASLt), timed with CUDA
// events on one stream. Prints a table last: what, size, time, TFLOP/s, the peer's TFLOP/s and
// the ratio (peer: benchmarks/peers/gemm_torch.py, read with --peer; see benchmarks/gpu/README.md).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "benchmarks/gpu/bench_util.h"
#include "ops/gemm.h"
#include "runtime/cuda_context.h"
#include "runtime/device.h"
#include "runtime/half.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace {

using attncamp::DType;
using attncamp::Tensor;

constexpr int64_t kTokensPerImage = 197;  // 14 x 14 patches + class token

struct Case {
  std::string what;
  int64_t m, n, k;
  bool ta, tb;
  bool f32_out;  // dW: bf16 operands, f32 C, beta = 1
};

std::vector<Case> cases(int64_t tokens) {
  struct Layer {
    const char* name;
    int64_t in, out;
  };
  const Layer layers[] = {{"qkv", 384, 1152}, {"proj", 384, 384}, {"fc1", 384, 1536}, {"fc2", 1536, 384}};
  std::vector<Case> c;
  for (const Layer& l : layers) {
    const std::string name = l.name;
    c.push_back({name + ".fwd", tokens, l.out, l.in, false, true, false});  // y = x W^T
    c.push_back({name + ".dx", tokens, l.in, l.out, false, false, false});  // dx = dy W
    c.push_back({name + ".dW", l.out, l.in, tokens, true, false, true});    // dW += dy^T x
  }
  return c;
}

std::string size_str(const Case& c) {
  return std::to_string(c.m) + "x" + std::to_string(c.n) + "x" + std::to_string(c.k);
}

using attncamp::bench::random_cuda;

// Mean milliseconds per GEMM over `iters` runs after `warmup` runs, on `stream` (the current one).
double time_ms(const Case& c, int warmup, int iters, const attncamp::Stream& stream) {
  const Tensor a = random_cuda(c.ta ? attncamp::Shape{c.k, c.m} : attncamp::Shape{c.m, c.k}, DType::kBF16, 1);
  const Tensor b = random_cuda(c.tb ? attncamp::Shape{c.n, c.k} : attncamp::Shape{c.k, c.n}, DType::kBF16, 2);
  Tensor out = random_cuda({c.m, c.n}, c.f32_out ? DType::kF32 : DType::kBF16, 3);
  const double beta = c.f32_out ? 1.0 : 0.0;
  return attncamp::bench::time_ms([&] { attncamp::ops::gemm(a, c.ta, b, c.tb, out, 1.0, beta); }, warmup, iters,
                                  stream);
}

int run(int64_t batch, int warmup, int iters, const std::string& peer_path) {
  ATTNCAMP_CHECK(attncamp::cuda_device_count() > 0, "gemm_bench needs a CUDA device; none is visible");
  const std::map<std::string, double> peer = attncamp::bench::read_peer(peer_path, "gemm_torch.py");
  attncamp::Stream stream(0);
  attncamp::CudaStreamGuard guard(stream);
  struct Row {
    Case c;
    double ms, tflops;
  };
  std::vector<Row> rows;
  double total_ms = 0, total_flops = 0;
  for (const Case& c : cases(batch * kTokensPerImage)) {
    const double ms = time_ms(c, warmup, iters, stream);
    const double flops = 2.0 * static_cast<double>(c.m) * static_cast<double>(c.n) * static_cast<double>(c.k);
    rows.push_back({c, ms, flops / (ms * 1e-3) * 1e-12});
    total_ms += ms;
    total_flops += flops;
  }
  std::printf("\nbf16 GEMM, ViT-S/16 shapes, batch %lld (N = %lld tokens), mean of %d runs\n",
              static_cast<long long>(batch), static_cast<long long>(batch * kTokensPerImage), iters);
  std::printf("%-10s %-18s %10s %10s %12s %7s\n", "what", "size MxNxK", "time ms", "TFLOP/s", "peer TFLOP/s", "ratio");
  auto print = [&](const std::string& what, const std::string& size, double ms, double tflops) {
    auto it = peer.find(what);
    if (it == peer.end()) {
      std::printf("%-10s %-18s %10.4f %10.1f %12s %7s\n", what.c_str(), size.c_str(), ms, tflops, "-", "-");
    } else {
      std::printf("%-10s %-18s %10.4f %10.1f %12.1f %7.2f\n", what.c_str(), size.c_str(), ms, tflops, it->second,
                  tflops / it->second);
    }
  };
  for (const Row& r : rows) print(r.c.what, size_str(r.c), r.ms, r.tflops);
  print("all", "(sum)", total_ms, total_flops / (total_ms * 1e-3) * 1e-12);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bf16 GEMM benchmark on the ViT-S/16 training shapes (CUDA, cuBLASLt)"};
  int64_t batch = 128;
  int warmup = 10, iters = 50;
  std::string peer;
  app.add_option("--batch", batch, "images per batch; tokens N = batch * 197")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed runs per shape")->check(CLI::NonNegativeNumber);
  app.add_option("--iters", iters, "timed runs per shape")->check(CLI::PositiveNumber);
  app.add_option("--peer", peer, "TSV written by benchmarks/peers/gemm_torch.py --tsv (adds peer and ratio)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(batch, warmup, iters, peer);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gemm_bench: %s\n", e.what());
    return 1;
  }
}
