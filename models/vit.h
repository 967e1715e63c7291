// Vision Transformer classifier: patch embedding, class token (or attention
// pooling), learned position embeddings, pre-norm blocks, final LayerNorm and a
// linear head. Parameters and gradients live in one flat ParamStore.
#pragma once

#include <memory>
#include <vector>

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
  double pixel_mean = 0.0;  // images are normalised as (x/255 - mean) / std
  double pixel_std = 1.0;
};

class VisionTransformer {
 public:
  // Registers and allocates all parameters on `device` (dtype f32 for training, f64 for gradient
  // checks). `compute_dtype` bf16 or f16 selects mixed precision: activations and GEMM weights in
  // that dtype, f32 master weights, gradients and optimizer state.
  explicit VisionTransformer(const VitConfig& config, DType dtype = DType::kF32, Device device = Device::cpu(),
                             DType compute_dtype = DType::kF32);
  const VitConfig& config() const { return config_; }
  ParamStore& params() { return store_; }
  // Initialises parameters deterministically from `seed` (the same values on every device).
  void initialize(uint64_t seed) { store_.initialize(seed); }
  // images [B,H,W,C] (u8 or float, on the model's device) -> logits [B, num_classes] in the
  // compute dtype.
  const Tensor& forward(const Tensor& images, const ForwardContext& ctx);
  // Accumulates parameter gradients for dlogits [B, num_classes].
  void backward(const Tensor& dlogits);
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
