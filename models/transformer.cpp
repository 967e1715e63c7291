// TransformerBlock and PatchEmbed forward/backward.
#include "models/transformer.h"

#include <utility>

#include "ops/elementwise.h"
#include "ops/tokens.h"

namespace attncamp::models {

TransformerBlock::TransformerBlock(ParamStore& store, const std::string& name, int64_t dim, int64_t heads,
                                   int64_t mlp_dim, double dropout)
    : ln1_(store, name + ".norm1", dim),
      ln2_(store, name + ".norm2", dim),
      attn_(store, name + ".attn", dim, heads, dropout),
      mlp_(store, name + ".mlp", dim, mlp_dim, dropout) {}

const Tensor& TransformerBlock::forward(const Tensor& x, const Tensor& key_valid, const ForwardContext& ctx) {
  const Tensor& a = attn_.forward(ln1_.forward(x), key_valid, ctx);
  // x1 = x + a and LN(x1) in one pass; ln2 keeps x1 for the second residual and its backward.
  const Tensor& m = mlp_.forward(ln2_.forward_add(x, a), ctx);
  ensure_like(out_, x.shape(), x);
  ops::add(ln2_.sum(), m, out_);
  return out_;
}

const Tensor& TransformerBlock::backward(const Tensor& dy) {
  // out = x1 + mlp(ln2(x1)): dx1 = dy + ln2'(mlp'(dy))
  const Tensor& dx1 = ln2_.backward_add(mlp_.backward(dy), dy);
  // x1 = x + attn(ln1(x)): dx = dx1 + ln1'(attn'(dx1))
  const Tensor& da = ln1_.backward(attn_.backward(dx1));
  ensure_like(dx_, dy.shape(), dy);
  ops::add(dx1, da, dx_);
  return dx_;
}

PatchEmbed::PatchEmbed(ParamStore& store, const std::string& name, int64_t patch, int64_t channels, int64_t dim,
                       std::vector<double> mean, std::vector<double> std)
    : patch_(patch),
      mean_(std::move(mean)),
      std_(std::move(std)),
      proj_(store, name + ".proj", patch * patch * channels, dim) {}

const Tensor& PatchEmbed::forward(const Tensor& images, DType dtype) {
  ATTNCAMP_CHECK(images.dim() == 4, "patch embedding expects images [B,H,W,C], got ", shape_str(images.shape()));
  const int64_t b = images.size(0), h = images.size(1), w = images.size(2), c = images.size(3);
  ATTNCAMP_CHECK(h % patch_ == 0 && w % patch_ == 0, "image size ", h, "x", w, " is not divisible by patch ", patch_);
  ensure_tensor(patches_, {b, (h / patch_) * (w / patch_), patch_ * patch_ * c}, dtype, images.device());
  ops::patchify(images, static_cast<int>(patch_), mean_, std_, patches_);
  return proj_.forward(patches_);
}

void PatchEmbed::backward(const Tensor& dy) { proj_.backward(dy, /*need_dx=*/false); }

}  // namespace attncamp::models
