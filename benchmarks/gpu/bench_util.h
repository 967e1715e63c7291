// Helpers shared by the GPU benchmarks: CUDA-event timing of a callable on a stream, and the
// peer's rate table written by a benchmarks/peers/*_torch.py --tsv run.
#pragma once

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "runtime/error.h"
#include "runtime/stream.h"

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
