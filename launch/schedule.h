// Learning-rate schedules: linear warmup, then cosine decay to min_lr (or constant).
#pragma once

#include <cstdint>

#include "attncamp.pb.h"

namespace attncamp::launch {

// The peak learning rate of `o` for `global_batch` samples per step: optimizer.lr, scaled by
// global_batch / optimizer.lr_reference_batch when that is set.
double scaled_lr(const config::OptimizerConfig& o, int64_t global_batch);

struct Schedule {
  double base_lr = 1e-3;
  double min_lr = 0.0;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  bool cosine = true;
  // Learning rate for 0-based step `step`.
  double lr(int64_t step) const;
};

}  // namespace attncamp::launch
