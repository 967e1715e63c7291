// Warmup + cosine schedule (matches timm/PyTorch: warmup ramps (step+1)/warmup).
#include "launch/schedule.h"

#include <algorithm>
#include <cmath>

namespace attncamp::launch {

double scaled_lr(const config::OptimizerConfig& o, int64_t global_batch) {
  const double lr = o.lr();
  if (o.lr_reference_batch() <= 0) return lr;
  return lr * static_cast<double>(global_batch) / static_cast<double>(o.lr_reference_batch());
}

double Schedule::lr(int64_t step) const {
  if (step < warmup_steps) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (!cosine) return base_lr;
  const int64_t span = std::max<int64_t>(1, total_steps - warmup_steps);
  const double t = std::min(1.0, static_cast<double>(step - warmup_steps) / static_cast<double>(span));
  return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(M_PI * t));
}

}  // namespace attncamp::launch
