// Synthetic classification samples: uniform noise in [0, 160) plus a square of side size/4 at a
// position fixed by the label (classes laid out on a grid), brightened by 90.
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>

#include "runtime/rng.h"

namespace attncamp::data {

ClassificationData make_synthetic_classification(int64_t n, int64_t size, int64_t channels, int64_t classes,
                                                 uint64_t seed) {
  ATTNCAMP_CHECK(n > 0 && size > 0 && channels > 0 && classes > 0, "synthetic data: n, size, channels and classes ",
                 "must be > 0 (got ", n, ", ", size, ", ", channels, ", ", classes, ")");
  ClassificationData d;
  d.images = Tensor::empty({n, size, size, channels}, DType::kU8);
  d.labels = Tensor::empty({n}, DType::kI32);
  d.num_classes = classes;
  d.path = "synthetic";
  const uint64_t stream = static_cast<uint64_t>(RngStream::kTest) + 1000;
  const int64_t grid = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(classes))));
  const int64_t side = std::max<int64_t>(1, size / 4);
  const int64_t cell = std::max<int64_t>(1, (size - side) / std::max<int64_t>(1, grid - 1));
  const int64_t sample = size * size * channels;
  uint8_t* img = d.images.data<uint8_t>();
  int32_t* lab = d.labels.data<int32_t>();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const int32_t label =
        std::min<int32_t>(static_cast<int32_t>(classes - 1),
                          static_cast<int32_t>(static_cast<double>(classes) * philox_uniform(seed, stream, i)));
    lab[i] = label;
    const int64_t y0 = std::min(size - side, (label / grid) * cell), x0 = std::min(size - side, (label % grid) * cell);
    uint8_t* p = img + i * sample;
    for (int64_t y = 0; y < size; ++y) {
      for (int64_t x = 0; x < size; ++x) {
        const bool in_square = y >= y0 && y < y0 + side && x >= x0 && x < x0 + side;
        for (int64_t c = 0; c < channels; ++c) {
          const int64_t k = (y * size + x) * channels + c;
          const float noise = 160.0f * philox_uniform(seed, stream + 1, static_cast<uint64_t>(i * sample + k));
          p[k] = static_cast<uint8_t>(noise + (in_square ? 90.0f : 0.0f));
        }
      }
    }
  }
  return d;
}

}  // namespace attncamp::data
