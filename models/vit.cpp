// VisionTransformer: wires the layers together and runs forward/backward.
#include "models/vit.h"

#include "ops/tokens.h"

namespace attncamp::models {

VisionTransformer::VisionTransformer(const VitConfig& c, DType dtype, Device device, DType compute_dtype) : config_(c) {
  ATTNCAMP_CHECK(c.image_size % c.patch == 0, "image_size ", c.image_size, " not divisible by patch ", c.patch);
  embed_ = std::make_unique<PatchEmbed>(store_, "patch_embed", c.patch, c.channels, c.dim, c.pixel_mean, c.pixel_std);
  if (c.pooling == Pooling::kClassToken) cls_token_ = store_.add("cls_token", {c.dim}, Init::kNormal02, false);
  pos_embed_ = store_.add("pos_embed", {num_tokens(), c.dim}, Init::kNormal02, false);
  for (int64_t i = 0; i < c.depth; ++i) {
    blocks_.push_back(std::make_unique<TransformerBlock>(store_, "blocks." + std::to_string(i), c.dim, c.heads,
                                                         c.mlp_dim, c.dropout));
  }
  norm_ = std::make_unique<LayerNorm>(store_, "norm", c.dim);
  if (c.pooling == Pooling::kAttention) {
    pool_ = std::make_unique<AttentionPool>(store_, "attn_pool", c.dim, c.attn_pool_dim > 0 ? c.attn_pool_dim : c.dim);
  }
  head_ = std::make_unique<Linear>(store_, "head", c.dim, c.num_classes);
  store_.allocate(dtype, device, compute_dtype);
}

int64_t VisionTransformer::num_tokens() const {
  const int64_t g = config_.image_size / config_.patch;
  return g * g + (config_.pooling == Pooling::kClassToken ? 1 : 0);
}

const Tensor& VisionTransformer::forward(const Tensor& images, const ForwardContext& ctx) {
  const DType dt = store_.compute_dtype();
  const Device dev = store_.device();
  ATTNCAMP_CHECK(images.device() == dev, "model is on ", dev.str(), " but the images are on ", images.device().str());
  ATTNCAMP_CHECK(images.dim() == 4 && images.size(1) == config_.image_size && images.size(2) == config_.image_size &&
                     images.size(3) == config_.channels,
                 "model expects images [B,", config_.image_size, ",", config_.image_size, ",", config_.channels,
                 "], got ", shape_str(images.shape()));
  const int64_t b = images.size(0), s = num_tokens(), d = config_.dim;
  const Tensor& patches = embed_->forward(images, dt);
  if (cls_token_) {
    ensure_tensor(tokens_, {b, s, d}, dt, dev);
    ops::prepend_token_forward(patches, cls_token_->value, tokens_);
  } else {
    ensure_tensor(tokens_, {b, s, d}, dt, dev);
    tokens_.copy_from(patches);
  }
  ops::add_position_forward(tokens_, pos_embed_->value);
  const Tensor* x = &tokens_;
  for (auto& blk : blocks_) x = &blk->forward(*x, Tensor(), ctx);
  const Tensor& normed = norm_->forward(*x);
  if (pool_) {
    pooled_ = pool_->forward(normed);
  } else {
    ensure_tensor(pooled_, {b, d}, dt, dev);
    ops::select_token_forward(normed, 0, pooled_);
  }
  return head_->forward(pooled_);
}

void VisionTransformer::backward(const Tensor& dlogits) {
  const Tensor& dpooled = head_->backward(dlogits);
  Tensor dnormed;
  if (pool_) {
    dnormed = pool_->backward(dpooled);
  } else {
    ensure_like(dtokens_, tokens_.shape(), tokens_);
    ops::select_token_backward(dpooled, 0, dtokens_);
    dnormed = dtokens_;
  }
  const Tensor* dx = &norm_->backward(dnormed);
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) dx = &(*it)->backward(*dx);
  ops::add_position_backward(*dx, pos_embed_->grad);
  grad_ready(pos_embed_);
  if (cls_token_) {
    const int64_t b = dx->size(0), d = config_.dim;
    ensure_like(dpatch_, {b, num_tokens() - 1, d}, *dx);
    ops::prepend_token_backward(*dx, dpatch_, cls_token_->grad);
    grad_ready(cls_token_);
    embed_->backward(dpatch_);
  } else {
    embed_->backward(*dx);
  }
}

}  // namespace attncamp::models
