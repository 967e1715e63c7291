// Where and in which precision a run computes (trainer.device, trainer.precision), and the
// dynamic loss scaler that f16 training needs (bf16 has f32's exponent range and runs unscaled).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "attncamp.pb.h"
#include "runtime/device.h"
#include "runtime/tensor.h"

namespace attncamp::launch {

struct Precision {
  Device device = Device::cpu();
  DType compute = DType::kF32;  // activations and GEMM weights; master weights are always f32
  std::string name = "fp32";    // "fp32", "bf16" or "fp16"
};

// "cpu", "cuda" or "cuda:N"; errors name the config source and the field.
Device parse_device(const std::string& text, const std::string& source);
// trainer.device and trainer.precision of a validated experiment (precision "" = fp32 on the CPU,
// bf16 on CUDA). Throws when CUDA is asked for but this build or machine has none.
Precision precision_from(const config::Experiment& e, const std::string& source);

// Dynamic loss scaling (as in PyTorch's GradScaler): the loss gradient is multiplied by scale();
// after backward, unscale_and_check() divides the gradients by it and reports whether they are
// all finite. A non-finite step is skipped and halves the scale; `growth_interval` finite steps
// in a row double it. Disabled (scale 1, no division) unless enabled.
class LossScaler {
 public:
  LossScaler(bool enabled, double initial = 65536.0, int64_t growth_interval = 2000);
  bool enabled() const { return enabled_; }
  double scale() const { return enabled_ ? scale_ : 1.0; }
  // Unscales `grads` in place when enabled; returns false (and updates the scale) when the
  // gradients hold Inf or NaN, in which case the caller skips the optimizer step.
  bool unscale_and_check(Tensor& grads);
  int64_t skipped_steps() const { return skipped_; }

 private:
  bool enabled_;
  double scale_;
  int64_t growth_interval_, good_steps_ = 0, skipped_ = 0;
};

}  // namespace attncamp::launch
