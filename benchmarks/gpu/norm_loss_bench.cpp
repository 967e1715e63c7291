// LayerNorm and softmax-cross-entropy on CUDA, the memory-bound ops of a ViT training step:
// LayerNorm forward/backward and the fused residual add + LayerNorm forward/backward on the
// ViT-S/16 token matrix (N = batch * 197 rows, 384 columns, bf16 activations, f32 gamma/beta and
// statistics), and the fused cross-entropy forward+backward on [batch, 1000] logits and on a
// large [8192, 8192] case. Timed with CUDA events on one stream. Prints a table last: what,
// shape, time, GB/s (the bytes the op must move at least, the same count as the peer's), the
// peer's GB/s and the ratio (peer: benchmarks/peers/norm_loss_torch.py, read with --peer).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "benchmarks/gpu/bench_util.h"
#include "ops/cross_entropy.h"
#include "ops/layernorm.h"
#include "runtime/cuda_context.h"
#include "runtime/device.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace {

using attncamp::DType;
using attncamp::Tensor;
using attncamp::bench::random_cuda;

constexpr int64_t kTokensPerImage = 197;
constexpr int64_t kDim = 384;

struct Row {
  std::string what, shape;
  double ms, bytes;
};

Tensor cuda_empty(const attncamp::Shape& s, DType t) { return Tensor::empty(s, t, attncamp::Device::cuda(0)); }

// Labels 0..classes-1 in a fixed pattern, on the GPU.
Tensor labels_for(int64_t rows, int64_t classes) {
  Tensor h = Tensor::empty({rows}, DType::kI32);
  for (int64_t i = 0; i < rows; ++i) h.data<int32_t>()[i] = static_cast<int32_t>((i * 7919) % classes);
  return h.to(attncamp::Device::cuda(0));
}

int run(int64_t batch, int warmup, int iters, const std::string& peer_path) {
  ATTNCAMP_CHECK(attncamp::cuda_device_count() > 0, "norm_loss_bench needs a CUDA device; none is visible");
  const std::map<std::string, double> peer = attncamp::bench::read_peer(peer_path, "norm_loss_torch.py");
  attncamp::Stream stream(0);
  attncamp::CudaStreamGuard guard(stream);
  auto time = [&](const std::function<void()>& fn) { return attncamp::bench::time_ms(fn, warmup, iters, stream); };
  std::vector<Row> rows;

  // LayerNorm on [N, 384] bf16: bytes = 2 per element per activation read or written.
  const int64_t n = batch * kTokensPerImage;
  const std::string ln_shape = std::to_string(n) + "x" + std::to_string(kDim);
  const double act = static_cast<double>(n * kDim) * 2.0;
  const Tensor x = random_cuda({n, kDim}, DType::kBF16, 1), res = random_cuda({n, kDim}, DType::kBF16, 2);
  const Tensor dy = random_cuda({n, kDim}, DType::kBF16, 3), dres = random_cuda({n, kDim}, DType::kBF16, 4);
  const Tensor gamma = random_cuda({kDim}, DType::kF32, 5), beta = random_cuda({kDim}, DType::kF32, 6);
  Tensor y = cuda_empty({n, kDim}, DType::kBF16), sum = cuda_empty({n, kDim}, DType::kBF16);
  Tensor dx = cuda_empty({n, kDim}, DType::kBF16);
  Tensor mean = cuda_empty({n}, DType::kF32), rstd = cuda_empty({n}, DType::kF32);
  Tensor dgamma = Tensor::zeros({kDim}, DType::kF32, attncamp::Device::cuda(0));
  Tensor dbeta = Tensor::zeros({kDim}, DType::kF32, attncamp::Device::cuda(0));
  rows.push_back({"ln.fwd", ln_shape,
                  time([&] { attncamp::ops::layernorm_forward(x, gamma, beta, 1e-6, y, mean, rstd); }),
                  2 * act});  // read x, write y
  rows.push_back({"ln.bwd", ln_shape,
                  time([&] { attncamp::ops::layernorm_backward(dy, x, gamma, mean, rstd, dx, dgamma, dbeta); }),
                  3 * act});  // read dy and x, write dx
  rows.push_back({"add_ln.fwd", ln_shape,
                  time([&] { attncamp::ops::add_layernorm_forward(x, res, gamma, beta, 1e-6, sum, y, mean, rstd); }),
                  4 * act});  // read x and residual, write the sum and y
  rows.push_back({"add_ln.bwd", ln_shape, time([&] {
                    attncamp::ops::add_layernorm_backward(dy, dres, sum, gamma, mean, rstd, dx, dgamma, dbeta);
                  }),
                  4 * act});  // read dy, the residual gradient and the sum, write dx

  // Cross-entropy forward + backward: read the logits, write dlogits (bf16), losses f32.
  const std::pair<int64_t, int64_t> ce_shapes[] = {{batch, 1000}, {8192, 8192}};
  for (const auto& [r, c] : ce_shapes) {
    const Tensor logits = random_cuda({r, c}, DType::kBF16, 7);
    const Tensor labels = labels_for(r, c);
    Tensor losses = cuda_empty({r}, DType::kF32), dlogits = cuda_empty({r, c}, DType::kBF16);
    const std::string shape = std::to_string(r) + "x" + std::to_string(c);
    rows.push_back({"ce." + shape, shape, time([&] {
                      attncamp::ops::cross_entropy_forward_backward(logits, labels, 0.0, 1.0 / static_cast<double>(r),
                                                                    losses, dlogits);
                    }),
                    static_cast<double>(r * c) * 4.0 + static_cast<double>(r) * 8.0});
  }

  std::printf("\nLayerNorm (ViT-S/16 tokens, batch %lld) and cross-entropy, bf16, mean of %d runs\n",
              static_cast<long long>(batch), iters);
  std::printf("%-16s %-14s %10s %10s %12s %7s\n", "what", "shape", "time ms", "GB/s", "peer GB/s", "ratio");
  for (const Row& r : rows) {
    const double gbs = r.bytes / (r.ms * 1e-3) * 1e-9;
    auto it = peer.find(r.what);
    if (it == peer.end()) {
      std::printf("%-16s %-14s %10.4f %10.1f %12s %7s\n", r.what.c_str(), r.shape.c_str(), r.ms, gbs, "-", "-");
    } else {
      std::printf("%-16s %-14s %10.4f %10.1f %12.1f %7.2f\n", r.what.c_str(), r.shape.c_str(), r.ms, gbs, it->second,
                  gbs / it->second);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"LayerNorm and cross-entropy benchmark on CUDA (bf16)"};
  int64_t batch = 128;
  int warmup = 10, iters = 50;
  std::string peer;
  app.add_option("--batch", batch, "images per batch; LayerNorm rows = batch * 197")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed runs per case")->check(CLI::NonNegativeNumber);
  app.add_option("--iters", iters, "timed runs per case")->check(CLI::PositiveNumber);
  app.add_option("--peer", peer, "TSV written by benchmarks/peers/norm_loss_torch.py --tsv (adds peer and ratio)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(batch, warmup, iters, peer);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "norm_loss_bench: %s\n", e.what());
    return 1;
  }
}
