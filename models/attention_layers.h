// Attention layers: multi-head self-attention over token sets (with an optional
// key-padding mask for variable-length sets) and soft attention pooling,
// a_i = softmax_i(w^T tanh(V h_i)), out = sum_i a_i h_i.
#pragma once

#include <string>

#include "models/layers.h"

namespace attncamp::models {

// x [B,S,D] -> [B,S,D]: one fused QKV projection, fused scaled-dot-product attention
// (ops/attention.h), output projection and dropout.
class MultiHeadSelfAttention {
 public:
  MultiHeadSelfAttention(ParamStore& store, const std::string& name, int64_t dim, int64_t heads, double dropout);
  // key_valid: undefined or u8 [B,S], nonzero where a token may be attended.
  const Tensor& forward(const Tensor& x, const Tensor& key_valid, const ForwardContext& ctx);
  const Tensor& backward(const Tensor& dy);

 private:
  int64_t dim_, heads_;
  Linear qkv_, proj_;
  Dropout drop_;
  Tensor key_valid_, qkv5_, attn_, lse_, dattn_, dqkv_;
};

// Soft attention pooling: h [B,S,D] -> out [B,D]. Parameters V [hidden,D] and w [hidden].
class AttentionPool {
 public:
  AttentionPool(ParamStore& store, const std::string& name, int64_t dim, int64_t hidden);
  const Tensor& forward(const Tensor& h);
  const Tensor& backward(const Tensor& dout);
  // Attention weights of the last forward, [B,S] (for inspection and attention maps).
  const Tensor& weights() const { return a_; }

 private:
  int64_t dim_, hidden_;
  Linear v_;
  Param* w_;
  Tensor h_, u_, s_, a_, out_, da_, ds_, du_, dh_, dh2_;
};

}  // namespace attncamp::models
