// CPU NMS and batched NMS on the cases of benchmarks/nms_bench_cases.h, each timed as the median of
// repeated calls on --threads OpenMP threads. Prints one "case<TAB>ms<TAB>kept" line per case as
// it goes and a table last: what, boxes, classes, time, kept. With --dir it writes each case's
// inputs and keep list there for the peer; benchmarks/detection_ops.sh runs both and prints the
// comparison.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "benchmarks/nms_bench_cases.h"
#include "ops/nms.h"

namespace {

using attncamp::Tensor;
using attncamp::bench::NmsCase;

// Median milliseconds of fn() over at least 5 calls and 0.5 s, after one untimed call.
template <class F>
double median_ms(F fn) {
  fn();
  std::vector<double> ms;
  double total = 0;
  while (ms.size() < 5 || total < 500) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    total += ms.back();
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

int run(int threads, const std::string& dir) {
  omp_set_num_threads(threads);
  std::vector<attncamp::bench::NmsRow> rows;
  for (const NmsCase& c : attncamp::bench::nms_cases()) {
    const auto in = c.inputs();
    auto call = [&] {
      return c.op == "nms"
                 ? attncamp::ops::nms(in.boxes, in.scores, attncamp::bench::kNmsIouThreshold)
                 : attncamp::ops::batched_nms(in.boxes, in.scores, in.class_ids, attncamp::bench::kNmsIouThreshold);
    };
    const Tensor keep = call();
    if (!dir.empty()) attncamp::bench::write_case(dir, c, in, keep);
    rows.push_back({c, median_ms(call), keep.numel()});
    attncamp::bench::print_nms_line(rows.back());
  }
  attncamp::bench::print_nms_table(
      "attncamp CPU NMS, " + std::to_string(threads) + " thread(s), median of repeated calls", rows);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU NMS and batched NMS on clustered boxes (peer: benchmarks/peers/nms_torchvision.py)"};
  int threads = 1;
  std::string dir;
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  app.add_option("--dir", dir, "write each case's inputs and keep list here for the peer");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(threads, dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nms_bench: %s\n", e.what());
    return 1;
  }
}
