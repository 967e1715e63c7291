// Synthetic classification data for throughput runs and GPU smoke tests when no dataset has been
// converted (data.synthetic_samples): Philox noise images with a class-dependent bright square,
// so a model can learn it and losses fall. Deterministic in (seed, index).
#pragma once

#include <cstdint>

#include "data/classification.h"

namespace attncamp::data {

// n samples of u8 [size, size, channels] images and labels in [0, classes); path "synthetic".
ClassificationData make_synthetic_classification(int64_t n, int64_t size, int64_t channels, int64_t classes,
                                                 uint64_t seed);

}  // namespace attncamp::data
