// Problem sizes and inputs of the RoIAlign benchmarks (CPU: benchmarks/roi_align_bench.cpp, CUDA:
// benchmarks/gpu/roi_align_bench.cpp), and the files through which the peer
// (benchmarks/peers/roi_align_torchvision.py) gets the same values: DIR/<tag>.bin per size, with
// the inputs and attncamp's outputs, and DIR/ours.tsv with attncamp's times.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/tensor.h"

namespace attncamp::bench {

struct RoiAlignSize {
  const char* tag;  // file name and --sizes key
  const char* what;
  int64_t batch, height, width, channels, rois, pooled;
  double spatial_scale;
  int64_t sampling_ratio;
};

// a: the box head of Faster/Mask R-CNN on one 800x1088 image at stride 16; b: the mask head (14x14,
// two samples per axis) on two images at stride 8; c: many ROIs on a small stride-32 map (heavy
// atomic contention); d: a stride-4 map (P2) on two images, many pixels per ROI.
inline const std::vector<RoiAlignSize>& roi_align_sizes() {
  static const std::vector<RoiAlignSize> sizes = {
      {"box", "512 rois 7x7, stride 16", 1, 50, 68, 256, 512, 7, 1.0 / 16, 0},
      {"mask", "256 rois 14x14 ratio 2, stride 8", 2, 100, 136, 256, 256, 14, 1.0 / 8, 2},
      {"p5", "2000 rois 7x7, stride 32", 2, 25, 34, 256, 2000, 7, 1.0 / 32, 0},
      {"p2", "1000 rois 7x7, stride 4", 2, 200, 272, 256, 1000, 7, 1.0 / 4, 0},
  };
  return sizes;
}

inline std::string size_str(const RoiAlignSize& s) {
  return std::to_string(s.batch) + "x" + std::to_string(s.height) + "x" + std::to_string(s.width) + "x" +
         std::to_string(s.channels);
}

// rois [K, 5] f32 on the CPU: image k % B, boxes with log-uniform sides in [16, 512] image pixels
// (clipped to the image) centred uniformly in it.
inline Tensor roi_align_boxes(const RoiAlignSize& s, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double img_h = static_cast<double>(s.height) / s.spatial_scale;
  const double img_w = static_cast<double>(s.width) / s.spatial_scale;
  Tensor t = Tensor::empty({s.rois, 5}, DType::kF32);
  float* r = t.data<float>();
  for (int64_t k = 0; k < s.rois; ++k) {
    const double bw = std::min(img_w, 16.0 * std::pow(32.0, u(gen)));
    const double bh = std::min(img_h, 16.0 * std::pow(32.0, u(gen)));
    const double x1 = u(gen) * (img_w - bw), y1 = u(gen) * (img_h - bh);
    const float row[5] = {static_cast<float>(k % s.batch), static_cast<float>(x1), static_cast<float>(y1),
                          static_cast<float>(x1 + bw), static_cast<float>(y1 + bh)};
    for (int j = 0; j < 5; ++j) r[k * 5 + j] = row[j];
  }
  return t;
}

// f32 CPU tensor of `shape`, uniform in [-1, 1), fixed by `seed`.
inline Tensor roi_align_values(const Shape& shape, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Tensor t = Tensor::empty(shape, DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(gen);
  return t;
}

// DIR/<tag>.bin: 8 int64 (B, H, W, C, K, pooled_h, pooled_w, sampling_ratio), one f64
// spatial_scale, then f32 arrays: the map [B,H,W,C], rois [K,5], grad_output [K,ph,pw,C], and
// attncamp's output [K,ph,pw,C] and grad_input [B,H,W,C] (all CPU f32 tensors, channels-last).
inline void write_roi_align_case(const std::string& dir, const RoiAlignSize& s, const std::vector<const Tensor*>& ts) {
  const std::string path = dir + "/" + s.tag + ".bin";
  std::ofstream f(path, std::ios::binary);
  ATTNCAMP_CHECK(f.good(), "cannot write ", path);
  const int64_t header[8] = {s.batch, s.height, s.width, s.channels, s.rois, s.pooled, s.pooled, s.sampling_ratio};
  f.write(reinterpret_cast<const char*>(header), sizeof(header));
  f.write(reinterpret_cast<const char*>(&s.spatial_scale), sizeof(double));
  for (const Tensor* t : ts) {
    ATTNCAMP_CHECK(t->dtype() == DType::kF32 && t->device().is_cpu(), "write_roi_align_case: f32 CPU tensors only");
    f.write(static_cast<const char*>(t->raw_data()), static_cast<std::streamsize>(t->nbytes()));
  }
  ATTNCAMP_CHECK(f.good(), "short write to ", path);
}

}  // namespace attncamp::bench
