// Learning-rate schedules: linear warmup, then cosine decay to min_lr (or constant).
#pragma once

#include <cstdint>

namespace attncamp::launch {

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
