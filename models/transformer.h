// Pre-norm transformer block (x + attn(ln1(x)), then x + mlp(ln2(x))) and the
// ViT patch embedding (patchify + Linear).
#pragma once

#include <string>
#include <vector>

#include "models/attention_layers.h"

namespace attncamp::models {

class TransformerBlock {
 public:
  TransformerBlock(ParamStore& store, const std::string& name, int64_t dim, int64_t heads, int64_t mlp_dim,
                   double dropout);
  // x [B,S,D] -> [B,S,D]; key_valid as in MultiHeadSelfAttention.
  const Tensor& forward(const Tensor& x, const Tensor& key_valid, const ForwardContext& ctx);
  const Tensor& backward(const Tensor& dy);

 private:
  LayerNorm ln1_, ln2_;
  MultiHeadSelfAttention attn_;
  Mlp mlp_;
  Tensor out_, dx_;
};

// images [B,H,W,C] (u8, or f32/f64 already in pixel units /255) -> tokens [B, (H/p)(W/p), D].
class PatchEmbed {
 public:
  // Pixels are normalised as (x/255 - mean[c]) / std[c] (one value: every channel).
  PatchEmbed(ParamStore& store, const std::string& name, int64_t patch, int64_t channels, int64_t dim,
             std::vector<double> mean, std::vector<double> std);
  const Tensor& forward(const Tensor& images, DType dtype);
  void backward(const Tensor& dy);  // parameter gradients only (images need none)

 private:
  int64_t patch_;
  std::vector<double> mean_, std_;
  Linear proj_;
  Tensor patches_;
};

}  // namespace attncamp::models
