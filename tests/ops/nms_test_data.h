// Inputs of the NMS, top-k, matching and sampling tests (CPU, emulated kernels and GPU parity):
// detector-like boxes that overlap in clusters, scores, class ids, quality (IoU) matrices for
// matching, and a plain greedy NMS written as torchvision's CPU kernel loops (O(N^2), no
// compaction, no grouping) to check the ops against.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "ops/nms_math.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"
#include "tests/test_util.h"

namespace attncamp::test {

struct DetectionInputs {
  Tensor boxes;      // [n, 4] xyxy in pixels of a 1000 x 1000 image
  Tensor scores;     // [n] in [0, 1)
  Tensor class_ids;  // [n] i64 in [0, classes)
};

// n boxes jittered around `clusters` cluster boxes (sides 16 to 256 pixels; each box moves its
// corners by up to 15% of the cluster's size, so IoUs within a cluster spread over (0.4, 1]);
// classes drawn independently. `dtype` f32 or f64 for boxes and scores; with distinct_scores the
// scores are a permutation of k / n (no ties).
inline DetectionInputs clustered_boxes(int64_t n, int64_t clusters, int64_t classes, uint64_t seed,
                                       DType dtype = DType::kF32, bool distinct_scores = false) {
  const uint64_t stream = static_cast<uint64_t>(RngStream::kTest);
  auto u = [&](uint64_t i) { return static_cast<double>(philox_uniform(seed, stream, i)); };
  std::vector<double> centre(static_cast<size_t>(4 * clusters));
  for (int64_t c = 0; c < clusters; ++c) {
    const double w = 16 + 240 * u(4 * c), h = 16 + 240 * u(4 * c + 1);
    const double x = (1000 - w) * u(4 * c + 2), y = (1000 - h) * u(4 * c + 3);
    centre[4 * c] = x;
    centre[4 * c + 1] = y;
    centre[4 * c + 2] = x + w;
    centre[4 * c + 3] = y + h;
  }
  DetectionInputs in;
  in.boxes = Tensor::empty({n, 4}, DType::kF64);
  in.scores = Tensor::empty({n}, DType::kF64);
  in.class_ids = Tensor::empty({n}, DType::kI64);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  const uint64_t base = 4 * static_cast<uint64_t>(clusters);
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(perm[i], perm[static_cast<int64_t>(u(base + i) * static_cast<double>(i + 1))]);
  }
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t k = base + n + 8 * static_cast<uint64_t>(i);
    const int64_t c = std::min<int64_t>(clusters - 1, static_cast<int64_t>(u(k) * static_cast<double>(clusters)));
    const double* b = &centre[4 * c];
    const double w = b[2] - b[0], h = b[3] - b[1];
    double* o = in.boxes.data<double>() + 4 * i;
    o[0] = b[0] + 0.15 * w * (2 * u(k + 1) - 1);
    o[1] = b[1] + 0.15 * h * (2 * u(k + 2) - 1);
    o[2] = b[2] + 0.15 * w * (2 * u(k + 3) - 1);
    o[3] = b[3] + 0.15 * h * (2 * u(k + 4) - 1);
    in.scores.data<double>()[i] = distinct_scores ? static_cast<double>(perm[i]) / static_cast<double>(n) : u(k + 5);
    in.class_ids.data<int64_t>()[i] =
        std::min<int64_t>(classes - 1, static_cast<int64_t>(u(k + 6) * static_cast<double>(classes)));
  }
  if (dtype == DType::kF32) {
    Tensor b = Tensor::empty({n, 4}, DType::kF32), s = Tensor::empty({n}, DType::kF32);
    for (int64_t i = 0; i < 4 * n; ++i) b.data<float>()[i] = static_cast<float>(in.boxes.data<double>()[i]);
    for (int64_t i = 0; i < n; ++i) s.data<float>()[i] = static_cast<float>(in.scores.data<double>()[i]);
    in.boxes = b;
    in.scores = s;
  }
  return in;
}

// Greedy NMS as torchvision's CPU kernel writes it: visit the boxes in score order (a stable sort
// by score key, so ties go to the lower index), skip suppressed ones, keep the rest and suppress
// every later box of the same class (class_ids may be nullptr) above the threshold. T is the
// boxes' and scores' type.
template <class T>
std::vector<int64_t> reference_nms(const T* boxes, const T* scores, const int64_t* class_ids, int64_t n,
                                   double iou_threshold, int64_t max_candidates = -1) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return ops::score_key(scores[a]) < ops::score_key(scores[b]); });
  if (max_candidates >= 0 && max_candidates < n) order.resize(static_cast<size_t>(max_candidates));
  const T thr = ops::nms_threshold<T>(iou_threshold);
  std::vector<char> suppressed(order.size(), 0);
  std::vector<int64_t> keep;
  for (size_t a = 0; a < order.size(); ++a) {
    if (suppressed[a]) continue;
    const int64_t i = order[a];
    keep.push_back(i);
    const T* bi = boxes + 4 * i;
    for (size_t b = a + 1; b < order.size(); ++b) {
      const int64_t j = order[b];
      if (suppressed[b] || (class_ids != nullptr && class_ids[i] != class_ids[j])) continue;
      const T* bj = boxes + 4 * j;
      const T area_i = ops::box_area(bi[0], bi[1], bi[2], bi[3]);
      const T area_j = ops::box_area(bj[0], bj[1], bj[2], bj[3]);
      if (ops::box_iou(bi[0], bi[1], bi[2], bi[3], area_i, bj[0], bj[1], bj[2], bj[3], area_j) > thr) suppressed[b] = 1;
    }
  }
  return keep;
}

// A detector-like IoU matrix: random values with many exact ties (multiples of 1/8), zeros, for
// G = 3 a row of zeros (a ground truth overlapping nothing), NaN, and every row but the first below 0.6, so
// that most proposals' best ground truth is below the high threshold (0.625) and the low-quality
// rule decides them.
inline Tensor quality_matrix(int64_t G, int64_t P, uint64_t seed) {
  Tensor t = random_tensor({G, P}, DType::kF32, seed, -0.5, 1.0);
  float* v = t.data<float>();
  for (int64_t i = 0; i < G * P; ++i) {
    if (i >= P) v[i] *= 0.6f;
    v[i] = v[i] < 0 ? 0.0f : i % 3 == 0 ? std::floor(v[i] * 8) / 8 : v[i];
    if (i % 97 == 5) v[i] = std::numeric_limits<float>::quiet_NaN();
  }
  if (G == 3) std::fill(v + P, v + 2 * P, 0.0f);  // (with it, every proposal ties that row's best)
  return t;
}

// The elements of an i64 CPU tensor.
inline std::vector<int64_t> int64_values(const Tensor& t) {
  const Tensor h = t.to(Device::cpu());
  return std::vector<int64_t>(h.data<int64_t>(), h.data<int64_t>() + h.numel());
}

}  // namespace attncamp::test
