// Inputs shared by the box op tests: boxes from literal coordinates, and random valid xyxy boxes
// (fixed seeds) with widths and heights in a chosen range, some of them empty on request.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"
#include "tests/test_util.h"

namespace attncamp::test {

// A [N,4] CPU tensor of `dtype` (f32 or f64) holding `rows`.
inline Tensor box_tensor(const std::vector<std::array<double, 4>>& rows, DType dtype = DType::kF64) {
  Tensor t = Tensor::empty({static_cast<int64_t>(rows.size()), 4}, DType::kF64);
  for (size_t i = 0; i < rows.size(); ++i) {
    for (int k = 0; k < 4; ++k) t.data<double>()[i * 4 + k] = rows[i][k];
  }
  return to_dtype(t, dtype);
}

// n random xyxy boxes of `dtype`: x1, y1 in [0, extent), widths and heights in [min_side,
// max_side). Every `empty_every`-th box (when > 0) gets zero width, and the one after it zero height.
// Coordinates are multiples of 1/64 when `grid` (exact in f32, so ties and sums are exact too).
inline Tensor random_boxes(int64_t n, uint64_t seed, DType dtype = DType::kF64, double extent = 100,
                           double min_side = 1, double max_side = 50, int64_t empty_every = 0, bool grid = false) {
  const Tensor u = random_tensor({n, 4}, DType::kF64, seed, 0.0, 1.0);
  Tensor t = Tensor::empty({n, 4}, DType::kF64);
  const double* r = u.data<double>();
  double* o = t.data<double>();
  for (int64_t i = 0; i < n; ++i) {
    double v[4] = {r[4 * i] * extent, r[4 * i + 1] * extent, min_side + r[4 * i + 2] * (max_side - min_side),
                   min_side + r[4 * i + 3] * (max_side - min_side)};
    if (grid) {
      for (double& x : v) x = static_cast<double>(static_cast<int64_t>(x * 64)) / 64;
    }
    if (empty_every > 0 && i % empty_every == 0) v[2] = 0;
    if (empty_every > 0 && i % empty_every == 1) v[3] = 0;
    o[4 * i] = v[0];
    o[4 * i + 1] = v[1];
    o[4 * i + 2] = v[0] + v[2];
    o[4 * i + 3] = v[1] + v[3];
  }
  return to_dtype(t, dtype);
}

}  // namespace attncamp::test
