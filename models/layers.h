// Basic layers with explicit forward/backward: Linear, LayerNorm, Dropout and
// the transformer MLP. Each layer owns its parameters (in a ParamStore) and the
// activations it needs for backward. forward() returns a reference to a buffer
// the layer owns (valid until its next forward); backward() accumulates
// parameter gradients and returns the input gradient.
#pragma once

#include <string>

#include "models/context.h"
#include "models/param_store.h"

namespace attncamp::models {

// y = x W^T + b over the last dimension, optionally followed by the exact GELU fused into the
// same op (ops::linear_gelu_forward: one pass fewer on the GPU). x [..., in] -> y [..., out].
class Linear {
 public:
  enum class Activation { kNone, kGelu };
  Linear(ParamStore& store, const std::string& name, int64_t in, int64_t out, bool bias = true,
         Init weight_init = Init::kUniformFanIn, Activation act = Activation::kNone);
  const Tensor& forward(const Tensor& x);
  // When need_dx is false (first layer), the input gradient is not computed.
  const Tensor& backward(const Tensor& dy, bool need_dx = true);
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  Activation act_;
  Param* w_;
  Param* b_ = nullptr;
  Tensor x_, pre_, dpre_, y_, dx_;
};

// Layer normalisation over the last dimension with learned gain and bias.
class LayerNorm {
 public:
  LayerNorm(ParamStore& store, const std::string& name, int64_t dim, double eps = 1e-5);
  const Tensor& forward(const Tensor& x);
  const Tensor& backward(const Tensor& dy);
  // Residual add fused in (ops::add_layernorm_forward): h = x + r, returns LN(h); h is kept
  // and available as sum(). backward_add(dy, dh) returns the gradient of h (and so of x and r):
  // the LayerNorm gradient of dy plus dh, the gradient h receives along the residual stream.
  const Tensor& forward_add(const Tensor& x, const Tensor& r);
  const Tensor& sum() const { return x_; }
  const Tensor& backward_add(const Tensor& dy, const Tensor& dh);

 private:
  int64_t dim_;
  double eps_;
  Param* gamma_;
  Param* beta_;
  Tensor x_, sum_, y_, mean_, rstd_, dx_;
};

// Inverted dropout with Philox masks fixed by (seed, step, site); identity in eval or p == 0.
// The site comes from the model's store (ParamStore::add_dropout_site).
class Dropout {
 public:
  Dropout(ParamStore& store, double p) : p_(p), site_(store.add_dropout_site()) {}
  const Tensor& forward(const Tensor& x, const ForwardContext& ctx);
  const Tensor& backward(const Tensor& dy);

 private:
  double p_;
  int site_;
  bool active_ = false;
  uint64_t seed_ = 0, offset_ = 0;
  Tensor y_, dx_;
};

// Transformer MLP: Linear(dim, hidden) -> GELU -> Linear(hidden, dim) -> Dropout.
class Mlp {
 public:
  Mlp(ParamStore& store, const std::string& name, int64_t dim, int64_t hidden, double dropout);
  const Tensor& forward(const Tensor& x, const ForwardContext& ctx);
  const Tensor& backward(const Tensor& dy);

 private:
  Linear fc1_, fc2_;
  Dropout drop_;
};

}  // namespace attncamp::models
