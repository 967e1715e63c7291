// RoIAlign forward and backward on CUDA on the sizes of benchmarks/roi_align_inputs.h, in --dtype
// (f32, bf16 or f16; rois f32), timed with CUDA events on one stream: the mean of --iters calls
// after --warmup. Rows: fwd, bwd (float atomics, the default) and bwd-det (the deterministic
// gather, RoiAlignOptions::deterministic). Every call checks its ROIs on the device and waits for
// that check (one stream synchronisation), which the times include. Writes DIR/ours.tsv (tag, pass,
// what, size, ms) and DIR/<tag>.bin (inputs and the fwd / bwd outputs as f32) for the peer,
// benchmarks/peers/roi_align_torchvision.py --device cuda, which times torchvision on the GPU on the
// same values and prints the comparison table (bwd-det against torchvision's atomic backward).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <string>

#include "benchmarks/gpu/bench_util.h"
#include "benchmarks/roi_align_inputs.h"
#include "ops/cast.h"
#include "ops/roi_align.h"
#include "runtime/cuda_context.h"
#include "runtime/device.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace {

using attncamp::DType;
using attncamp::Tensor;
using attncamp::bench::RoiAlignSize;

// `t` (CPU f32) on the GPU in `dtype`.
Tensor to_gpu(const Tensor& t, DType dtype) {
  const Tensor g = t.to(attncamp::Device::cuda(0));
  if (dtype == DType::kF32) return g;
  Tensor out = Tensor::empty(t.shape(), dtype, attncamp::Device::cuda(0));
  attncamp::ops::cast(g, out);
  return out;
}

// `t` (GPU, any float dtype) as a CPU f32 tensor.
Tensor to_host_f32(const Tensor& t) {
  Tensor f = Tensor::empty(t.shape(), DType::kF32, t.device());
  attncamp::ops::cast(t, f);
  return f.to(attncamp::Device::cpu());
}

int run(DType dtype, int warmup, int iters, const std::string& dir, const std::string& sizes) {
  ATTNCAMP_CHECK(attncamp::cuda_device_count() > 0, "roi_align_gpu_bench needs a CUDA device; none is visible");
  attncamp::Stream stream(0);
  attncamp::CudaStreamGuard guard(stream);
  std::ofstream tsv(dir + "/ours.tsv");
  ATTNCAMP_CHECK(tsv.good(), "cannot write ", dir, "/ours.tsv");
  tsv << "#dtype\t" << attncamp::dtype_name(dtype) << '\n';
  std::printf("RoIAlign on CUDA, %s, mean of %d calls\n", attncamp::dtype_name(dtype), iters);
  std::printf("%-8s %-8s %-36s %-16s %10s\n", "tag", "pass", "what", "size", "ms");
  for (const RoiAlignSize& s : attncamp::bench::roi_align_sizes()) {
    if (sizes.find(s.tag) == std::string::npos) continue;
    // Values rounded through the dtype, so the dump holds exactly what the kernels read.
    const Tensor map = to_gpu(attncamp::bench::roi_align_values({s.batch, s.height, s.width, s.channels}, 1), dtype);
    const Tensor grad = to_gpu(attncamp::bench::roi_align_values({s.rois, s.pooled, s.pooled, s.channels}, 3), dtype);
    const Tensor rois_host = attncamp::bench::roi_align_boxes(s, 2);
    const Tensor rois = rois_host.to(attncamp::Device::cuda(0));
    Tensor out = Tensor::empty({s.rois, s.pooled, s.pooled, s.channels}, dtype, attncamp::Device::cuda(0));
    Tensor grad_in = Tensor::empty({s.batch, s.height, s.width, s.channels}, dtype, attncamp::Device::cuda(0));
    attncamp::ops::RoiAlignOptions opt;
    opt.spatial_scale = s.spatial_scale;
    opt.sampling_ratio = s.sampling_ratio;
    attncamp::ops::RoiAlignOptions det = opt;
    det.deterministic = true;
    auto time = [&](auto fn) { return attncamp::bench::time_ms(fn, warmup, iters, stream); };
    const double fwd = time([&] { attncamp::ops::roi_align_forward(map, rois, opt, out); });
    const double bwd_det = time([&] { attncamp::ops::roi_align_backward(grad, rois, det, grad_in); });
    const double bwd = time([&] { attncamp::ops::roi_align_backward(grad, rois, opt, grad_in); });
    const Tensor map_h = to_host_f32(map), grad_h = to_host_f32(grad), out_h = to_host_f32(out);
    const Tensor grad_in_h = to_host_f32(grad_in);
    attncamp::bench::write_roi_align_case(dir, s, {&map_h, &rois_host, &grad_h, &out_h, &grad_in_h});
    for (const auto& [pass, ms] : {std::pair<const char*, double>{"fwd", fwd}, {"bwd", bwd}, {"bwd-det", bwd_det}}) {
      std::printf("%-8s %-8s %-36s %-16s %10.4f\n", s.tag, pass, s.what, attncamp::bench::size_str(s).c_str(), ms);
      tsv << s.tag << '\t' << pass << '\t' << s.what << '\t' << attncamp::bench::size_str(s) << '\t' << ms << '\n';
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"RoIAlign forward and backward on CUDA"};
  int warmup = 10, iters = 50;
  std::string dtype = "f32", dir = "/tmp", sizes = "box,mask,p5,p2";
  app.add_option("--dtype", dtype, "feature-map dtype")->check(CLI::IsMember({"f32", "bf16", "f16"}));
  app.add_option("--warmup", warmup, "untimed calls per case")->check(CLI::NonNegativeNumber);
  app.add_option("--iters", iters, "timed calls per case")->check(CLI::PositiveNumber);
  app.add_option("--dir", dir, "folder for ours.tsv and the <tag>.bin files the peer reads");
  app.add_option("--sizes", sizes, "tags of the sizes to run, comma-separated (box, mask, p5, p2)");
  CLI11_PARSE(app, argc, argv);
  try {
    const DType dt = dtype == "bf16" ? DType::kBF16 : (dtype == "f16" ? DType::kF16 : DType::kF32);
    return run(dt, warmup, iters, dir, sizes);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "roi_align_gpu_bench: %s\n", e.what());
    return 1;
  }
}
