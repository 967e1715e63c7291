// What every model offers the trainer: its parameters and gradients in one flat ParamStore
// (which the optimizer steps, DDP cuts into buckets through the store's grad_ready hook, and
// checkpoints save), deterministic initialisation, and explicit forward/backward (no autograd
// tape). Classifier is the forward/backward of models that map one input tensor to class logits
// (the ViT, and the EEG models next); a model with other inputs or outputs (the detector)
// derives from Model and declares its own forward/backward.
#pragma once

#include <cstdint>
#include <string>

#include "models/context.h"
#include "models/param_store.h"

namespace attncamp::models {

class Model {
 public:
  virtual ~Model() = default;
  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Short name for messages ("vit").
  virtual std::string kind() const = 0;
  // Every parameter, gradient and dropout site of the model.
  virtual ParamStore& params() = 0;
  // Initialises the parameters deterministically from `seed` (the same values on every rank and
  // device).
  void initialize(uint64_t seed) { params().initialize(seed); }
};

class Classifier : public Model {
 public:
  // input [B, ...] (on the model's device; its layout is the model's, e.g. images [B,H,W,C]) ->
  // logits [B, num_classes()] in the compute dtype. The returned tensor stays valid until the
  // next forward.
  virtual const Tensor& forward(const Tensor& input, const ForwardContext& ctx) = 0;
  // Accumulates parameter gradients for dlogits [B, num_classes()] of the last forward; each
  // parameter's gradient is announced through params().grad_ready as soon as it is final.
  virtual void backward(const Tensor& dlogits) = 0;
  virtual int64_t num_classes() const = 0;
};

}  // namespace attncamp::models
