// Helpers shared by the GPU benchmarks: random CUDA inputs, CUDA-event timing of a callable on a
// stream, and the peer's rate table written by a benchmarks/peers/*_torch.py --tsv run.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/half.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace attncamp::bench {

// Milliseconds per call of fn() after `warmup` untimed calls, from events on `stream`.
template <class F>
double time_ms(F fn, int warmup, int iters, const Stream& stream) {
  for (int i = 0; i < warmup; ++i) fn();
  Event start(0), stop(0);
  start.record(stream);
  for (int i = 0; i < iters; ++i) fn();
  stop.record(stream);
  stop.synchronize();
  return stop.elapsed_ms_since(start) / iters;
}

// CUDA tensor (device 0) of `dtype` (f32 or bf16) with values uniform in [-1, 1) from a fixed
// xorshift sequence keyed by `seed`.
inline Tensor random_cuda(const Shape& shape, DType dtype, uint64_t seed) {
  ATTNCAMP_CHECK(dtype == DType::kF32 || dtype == DType::kBF16, "random_cuda: f32 or bf16, not ", dtype_name(dtype));
  Tensor h = Tensor::empty(shape, dtype);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < h.numel(); ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    const float v = static_cast<float>(static_cast<double>(s >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    if (dtype == DType::kBF16) {
      h.data<BFloat16>()[i] = float_to_bf16(v);
    } else {
      h.data<float>()[i] = v;
    }
  }
  return h.to(Device::cuda(0));
}

// Peer rates from `peer_script` --tsv: lines "what<TAB>TFLOP/s" (empty path: no peer).
inline std::map<std::string, double> read_peer(const std::string& path, const std::string& peer_script) {
  std::map<std::string, double> rates;
  if (path.empty()) return rates;
  std::ifstream in(path);
  ATTNCAMP_CHECK(in.good(), "cannot read the peer's table ", path, " (write it with ", peer_script, " --tsv)");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string what;
    double rate = 0;
    if (fields >> what >> rate) rates[what] = rate;
  }
  return rates;
}

}  // namespace attncamp::bench
