// Vision Transformer classifier: patch embedding, class token (or attention
// pooling), learned position embeddings, pre-norm blocks, final LayerNorm and a
// linear head. Parameters and gradients live in one flat ParamStore.
#pragma once

#include <memory>
#include <vector>

#include "models/model.h"
#include "models/transformer.h"

namespace attncamp::models {

enum class Pooling { kClassToken, kAttention };

struct VitConfig {
  int64_t image_size = 28;
  int64_t channels = 1;
  int64_t patch = 4;
  int64_t dim = 64;
  int64_t depth = 4;
  int64_t heads = 4;
  int64_t mlp_dim = 256;
  int64_t num_classes = 10;
  Pooling pooling = Pooling::kClassToken;
  int64_t attn_pool_dim = 64;
  double dropout = 0.0;
  // Images are normalised per channel as (x/255 - mean[c]) / std[c]; one value applies to every
  // channel.
  std::vector<double> pixel_mean{0.0};
  std::vector<double> pixel_std{1.0};
};

class VisionTransformer : public Classifier {
 public:
  // Registers and allocates all parameters on `device` (dtype f32 for training, f64 for gradient
  // checks). `compute_dtype` bf16 or f16 selects mixed precision: activations and GEMM weights in
  // that dtype, f32 master weights, gradients and optimizer state.
  explicit VisionTransformer(const VitConfig& config, DType dtype = DType::kF32, Device device = Device::cpu(),
                             DType compute_dtype = DType::kF32);
  const VitConfig& config() const { return config_; }
  std::string kind() const override { return "vit"; }
  ParamStore& params() override { return store_; }
  // images [B,H,W,C] (u8 or float, on the model's device) -> logits [B, num_classes] in the
  // compute dtype.
  const Tensor& forward(const Tensor& images, const ForwardContext& ctx) override;
  // Accumulates parameter gradients for dlogits [B, num_classes].
  void backward(const Tensor& dlogits) override;
  int64_t num_classes() const override { return config_.num_classes; }
  int64_t num_tokens() const;

 private:
  VitConfig config_;
  ParamStore store_;
  std::unique_ptr<PatchEmbed> embed_;
  Param* cls_token_ = nullptr;
  Param* pos_embed_ = nullptr;
  std::vector<std::unique_ptr<TransformerBlock>> blocks_;
  std::unique_ptr<LayerNorm> norm_;
  std::unique_ptr<AttentionPool> pool_;
  std::unique_ptr<Linear> head_;
  Tensor tokens_, pooled_, dpooled_, dtokens_, dpatch_;
};

}  // namespace attncamp::models
