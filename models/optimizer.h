// Optimizer state over a ParamStore's flat buffers: AdamW (m, v) or SGD
// (momentum buffer), stepped with one fused op over all parameters.
// The state tensors are exposed for checkpointing.
#pragma once

#include <map>
#include <string>

#include "models/param_store.h"

namespace attncamp::models {

struct OptimizerSettings {
  enum class Kind { kAdamW, kSgd };
  Kind kind = Kind::kAdamW;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool nesterov = false;
};

class Optimizer {
 public:
  Optimizer(ParamStore& store, const OptimizerSettings& settings);
  // One step with learning rate `lr` using the store's current gradients.
  void step(double lr);
  int64_t steps_taken() const { return steps_; }
  // State for checkpoints: named tensors ("m", "v" or "momentum") and the step count.
  std::map<std::string, Tensor> state() const;
  void load_state(const std::map<std::string, Tensor>& state, int64_t steps, const std::string& source);

 private:
  ParamStore& store_;
  OptimizerSettings s_;
  int64_t steps_ = 0;
  Tensor m_, v_;  // AdamW moments, or m_ = SGD momentum buffer
};

}  // namespace attncamp::models
