// RoIAlign forward and backward on the CPU (f32, channels-last) on the sizes of
// benchmarks/roi_align_inputs.h, on --threads OpenMP threads: median wall time of --iters calls
// after --warmup. Writes DIR/ours.tsv (tag, pass, what, size, ms) and DIR/<tag>.bin (inputs and
// outputs) for the peer, benchmarks/peers/roi_align_torchvision.py, which times torchvision on the
// same values and prints the comparison table (benchmarks/roi_align_bench.sh runs both).
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/roi_align_inputs.h"
#include "ops/roi_align.h"

namespace {

using attncamp::Tensor;
using attncamp::bench::RoiAlignSize;

double median_ms(const std::function<void()>& fn, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

int run(int threads, int warmup, int iters, const std::string& dir, const std::string& sizes) {
  omp_set_num_threads(threads);
  std::ofstream tsv(dir + "/ours.tsv");
  ATTNCAMP_CHECK(tsv.good(), "cannot write ", dir, "/ours.tsv");
  std::printf("%-8s %-4s %-36s %-16s %10s\n", "tag", "pass", "what", "size", "ms");
  for (const RoiAlignSize& s : attncamp::bench::roi_align_sizes()) {
    if (sizes.find(s.tag) == std::string::npos) continue;
    const Tensor map = attncamp::bench::roi_align_values({s.batch, s.height, s.width, s.channels}, 1);
    const Tensor rois = attncamp::bench::roi_align_boxes(s, 2);
    const Tensor grad = attncamp::bench::roi_align_values({s.rois, s.pooled, s.pooled, s.channels}, 3);
    Tensor out = Tensor::empty({s.rois, s.pooled, s.pooled, s.channels});
    Tensor grad_in = Tensor::empty({s.batch, s.height, s.width, s.channels});
    attncamp::ops::RoiAlignOptions opt;
    opt.spatial_scale = s.spatial_scale;
    opt.sampling_ratio = s.sampling_ratio;
    const double fwd = median_ms([&] { attncamp::ops::roi_align_forward(map, rois, opt, out); }, warmup, iters);
    const double bwd = median_ms([&] { attncamp::ops::roi_align_backward(grad, rois, opt, grad_in); }, warmup, iters);
    attncamp::bench::write_roi_align_case(dir, s, {&map, &rois, &grad, &out, &grad_in});
    for (const auto& [pass, ms] : {std::pair<const char*, double>{"fwd", fwd}, {"bwd", bwd}}) {
      std::printf("%-8s %-4s %-36s %-16s %10.3f\n", s.tag, pass, s.what, attncamp::bench::size_str(s).c_str(), ms);
      tsv << s.tag << '\t' << pass << '\t' << s.what << '\t' << attncamp::bench::size_str(s) << '\t' << ms << '\n';
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"RoIAlign forward and backward on the CPU (f32, channels-last)"};
  int threads = 2, warmup = 2, iters = 10;
  std::string dir = "/tmp", sizes = "box,mask,p5";
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed calls per case")->check(CLI::NonNegativeNumber);
  app.add_option("--iters", iters, "timed calls per case (the median is reported)")->check(CLI::PositiveNumber);
  app.add_option("--dir", dir, "folder for ours.tsv and the <tag>.bin files the peer reads");
  app.add_option("--sizes", sizes, "tags of the sizes to run, comma-separated (box, mask, p5, p2)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(threads, warmup, iters, dir, sizes);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "roi_align_bench: %s\n", e.what());
    return 1;
  }
}
