// CUDA NMS and batched NMS on the cases of benchmarks/nms_bench_cases.h (boxes, scores and class
// ids on the GPU), timed with CUDA events on one stream: the mean of --iters calls after --warmup.
// Each call includes the one host synchronisation the op makes (its kept count), as torchvision's
// nms includes its copy of the bitmask to the host. Prints one "case<TAB>ms<TAB>kept" line per case
// and a table last: what, boxes, classes, time, kept. With --dir it writes each case's inputs and
// keep list there; benchmarks/detection_ops.sh --gpu runs the peer (benchmarks/peers/
// nms_torchvision.py --device cuda) and prints the comparison. Published reference: torchvision's
// batched_nms of 10000 boxes over 80 classes takes 1.41 ms.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "benchmarks/gpu/bench_util.h"
#include "benchmarks/nms_bench_cases.h"
#include "ops/nms.h"
#include "runtime/cuda_context.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace {

using attncamp::Device;
using attncamp::Tensor;
using attncamp::bench::NmsCase;

int run(int warmup, int iters, const std::string& dir) {
  ATTNCAMP_CHECK(attncamp::cuda_device_count() > 0, "nms_bench needs a CUDA device; none is visible");
  attncamp::Stream stream(0);
  attncamp::CudaStreamGuard guard(stream);
  std::vector<attncamp::bench::NmsRow> rows;
  for (const NmsCase& c : attncamp::bench::nms_cases()) {
    const auto in = c.inputs();
    const Tensor boxes = in.boxes.to(Device::cuda(0)), scores = in.scores.to(Device::cuda(0));
    const Tensor classes = in.class_ids.to(Device::cuda(0));
    auto call = [&] {
      return c.op == "nms" ? attncamp::ops::nms(boxes, scores, attncamp::bench::kNmsIouThreshold)
                           : attncamp::ops::batched_nms(boxes, scores, classes, attncamp::bench::kNmsIouThreshold);
    };
    const Tensor keep = call();
    if (!dir.empty()) attncamp::bench::write_case(dir, c, in, keep);
    const double ms = attncamp::bench::time_ms([&] { call(); }, warmup, iters, stream);
    rows.push_back({c, ms, keep.numel()});
    attncamp::bench::print_nms_line(rows.back());
  }
  attncamp::bench::print_nms_table("attncamp CUDA NMS, mean of " + std::to_string(iters) + " calls", rows);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CUDA NMS and batched NMS on clustered boxes (peer: benchmarks/peers/nms_torchvision.py)"};
  int warmup = 10, iters = 50;
  std::string dir;
  app.add_option("--warmup", warmup, "untimed calls per case")->check(CLI::NonNegativeNumber);
  app.add_option("--iters", iters, "timed calls per case")->check(CLI::PositiveNumber);
  app.add_option("--dir", dir, "write each case's inputs and keep list here for the peer");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(warmup, iters, dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nms_bench: %s\n", e.what());
    return 1;
  }
}
