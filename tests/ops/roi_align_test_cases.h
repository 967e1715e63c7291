// Inputs shared by the RoIAlign tests (CPU reference, emulated kernels, GPU parity): problem sizes
// and ROI sets that mix boxes inside the map, partly and wholly outside it, tiny and huge boxes
// and reversed ones (x2 < x1), spread over every image of the batch.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "ops/roi_align.h"
#include "runtime/tensor.h"

namespace attncamp::test::roi_align {

struct Case {
  const char* name;
  int64_t batch, height, width, channels, rois, pooled_h, pooled_w;
  double spatial_scale;
  int64_t sampling_ratio;  // <= 0: adaptive
  uint64_t seed;
};

// Small enough for the emulator and finite differences; channels cover the vector paths (multiples
// of 8) and the scalar ones.
inline const std::vector<Case>& small_cases() {
  static const std::vector<Case> cases = {
      {"adaptive 2x9x11x16 7x7 scale 1/4", 2, 9, 11, 16, 24, 7, 7, 0.25, 0, 1},
      {"ratio 2, 3x7x5x3 3x2 scale 1", 3, 7, 5, 3, 18, 3, 2, 1.0, 2, 2},
      {"adaptive 1x1x1x8 2x2 scale 1/16", 1, 1, 1, 8, 12, 2, 2, 0.0625, 0, 3},
      {"ratio 1, 2x6x13x24 1x1 scale 1/2", 2, 6, 13, 24, 12, 1, 1, 0.5, 1, 4},
      {"adaptive 3x12x10x5 4x3 scale 1/8", 3, 12, 10, 5, 30, 4, 3, 0.125, 0, 5},
  };
  return cases;
}

// Box kinds, cycled through by ROI index.
enum class Kind { kInside, kPartlyOutside, kOutside, kTiny, kHuge, kReversed, kCount };

// rois [K, 5] (f64) for `c`: batch index (k * 5 + 1) mod B, boxes in image pixels (the map times
// 1 / spatial_scale), of the kinds above, with fractional coordinates.
inline Tensor random_rois(const Case& c) {
  std::mt19937_64 gen(c.seed * 7919 + 17);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double img_h = static_cast<double>(c.height) / c.spatial_scale;
  const double img_w = static_cast<double>(c.width) / c.spatial_scale;
  Tensor t = Tensor::empty({c.rois, 5}, DType::kF64);
  double* r = t.data<double>();
  auto axis = [&](Kind kind, double size, double& lo, double& hi) {
    switch (kind) {
      case Kind::kInside:
        lo = size * 0.6 * u(gen);
        hi = lo + size * (0.05 + 0.35 * u(gen));
        break;
      case Kind::kPartlyOutside:
        lo = -size * (0.05 + 0.3 * u(gen));
        hi = lo + size * (0.2 + 0.6 * u(gen));
        if (u(gen) < 0.5) {  // over the far border instead
          lo += size * 0.9;
          hi += size * 0.9;
        }
        break;
      case Kind::kOutside:
        lo = u(gen) < 0.5 ? size * (1.3 + u(gen)) : -size * (1.5 + u(gen));
        hi = lo + size * (0.1 + 0.2 * u(gen));
        break;
      case Kind::kTiny:
        lo = size * u(gen);
        hi = lo + 0.02 * u(gen) / c.spatial_scale;
        break;
      case Kind::kHuge:
        lo = -size * (1.0 + u(gen));
        hi = size * (2.0 + u(gen));
        break;
      default:
        hi = size * u(gen);
        lo = hi + size * (0.05 + 0.2 * u(gen));
        break;  // reversed
    }
  };
  for (int64_t k = 0; k < c.rois; ++k) {
    const Kind kind = static_cast<Kind>(k % static_cast<int64_t>(Kind::kCount));
    double* row = r + k * 5;
    row[0] = static_cast<double>((k * 5 + 1) % c.batch);
    axis(kind, img_w, row[1], row[3]);
    axis(kind, img_h, row[2], row[4]);
  }
  return t;
}

inline ops::RoiAlignOptions options(const Case& c, bool deterministic = false) {
  ops::RoiAlignOptions o;
  o.spatial_scale = c.spatial_scale;
  o.sampling_ratio = c.sampling_ratio;
  o.deterministic = deterministic;
  return o;
}

inline Shape map_shape(const Case& c) { return {c.batch, c.height, c.width, c.channels}; }
inline Shape pooled_shape(const Case& c) { return {c.rois, c.pooled_h, c.pooled_w, c.channels}; }

}  // namespace attncamp::test::roi_align
