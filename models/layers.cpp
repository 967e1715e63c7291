// Linear, LayerNorm, Dropout and Mlp forward/backward on top of the ops API.
#include "models/layers.h"

#include "ops/dropout.h"
#include "ops/gelu.h"
#include "ops/layernorm.h"
#include "ops/linear.h"

namespace attncamp::models {

namespace {
Shape with_last(const Shape& s, int64_t last) {
  Shape r = s;
  r.back() = last;
  return r;
}
}  // namespace

Linear::Linear(ParamStore& store, const std::string& name, int64_t in, int64_t out, bool bias, Init weight_init,
               Activation act)
    : in_(in), out_(out), act_(act) {
  w_ = store.add(name + ".weight", {out, in}, weight_init, true, in);
  // PyTorch's nn.Linear initialises the bias like the weight when the weight uses its default.
  const Init bias_init = weight_init == Init::kUniformFanIn ? Init::kUniformFanIn : Init::kZeros;
  if (bias) b_ = store.add(name + ".bias", {out}, bias_init, false, in);
}

const Tensor& Linear::forward(const Tensor& x) {
  ATTNCAMP_CHECK(x.dim() >= 1 && x.shape().back() == in_, "Linear expects [..., ", in_, "], got ",
                 shape_str(x.shape()));
  x_ = x;
  ensure_like(y_, with_last(x.shape(), out_), x);
  if (act_ == Activation::kGelu) {
    ensure_like(pre_, y_.shape(), x);
    ops::linear_gelu_forward(x, w_->compute, b_ ? b_->value : Tensor(), pre_, y_);
  } else {
    ops::linear_forward(x, w_->compute, b_ ? b_->value : Tensor(), y_);
  }
  return y_;
}

const Tensor& Linear::backward(const Tensor& dy, bool need_dx) {
  Tensor dx;
  if (need_dx) dx = ensure_like(dx_, x_.shape(), x_);
  Tensor db = b_ ? b_->grad : Tensor();
  if (act_ == Activation::kGelu) {
    // Two passes either way (dpre = dy * gelu'(pre), then the linear backward); a kept buffer
    // for dpre avoids the op's per-call scratch allocation.
    ensure_like(dpre_, pre_.shape(), pre_);
    ops::gelu_backward(pre_, dy, dpre_);
    ops::linear_backward(dpre_, x_, w_->compute, dx, w_->grad, db);
  } else {
    ops::linear_backward(dy, x_, w_->compute, dx, w_->grad, db);
  }
  grad_ready(w_);
  grad_ready(b_);
  return dx_;
}

LayerNorm::LayerNorm(ParamStore& store, const std::string& name, int64_t dim, double eps) : dim_(dim), eps_(eps) {
  gamma_ = store.add(name + ".weight", {dim}, Init::kOnes, false);
  beta_ = store.add(name + ".bias", {dim}, Init::kZeros, false);
}

const Tensor& LayerNorm::forward(const Tensor& x) {
  ATTNCAMP_CHECK(x.shape().back() == dim_, "LayerNorm expects [..., ", dim_, "], got ", shape_str(x.shape()));
  x_ = x;
  const int64_t rows = x.numel() / dim_;
  ensure_like(y_, x.shape(), x);
  ensure_tensor(mean_, {rows}, stat_dtype(x), x.device());
  ensure_tensor(rstd_, {rows}, stat_dtype(x), x.device());
  ops::layernorm_forward(x, gamma_->value, beta_->value, eps_, y_, mean_, rstd_);
  return y_;
}

const Tensor& LayerNorm::backward(const Tensor& dy) {
  ensure_like(dx_, x_.shape(), x_);
  ops::layernorm_backward(dy, x_, gamma_->value, mean_, rstd_, dx_, gamma_->grad, beta_->grad);
  grad_ready(gamma_);
  grad_ready(beta_);
  return dx_;
}

const Tensor& LayerNorm::forward_add(const Tensor& x, const Tensor& r) {
  ATTNCAMP_CHECK(x.shape().back() == dim_, "LayerNorm expects [..., ", dim_, "], got ", shape_str(x.shape()));
  const int64_t rows = x.numel() / dim_;
  ensure_like(sum_, x.shape(), x);
  x_ = sum_;
  ensure_like(y_, x.shape(), x);
  ensure_tensor(mean_, {rows}, stat_dtype(x), x.device());
  ensure_tensor(rstd_, {rows}, stat_dtype(x), x.device());
  ops::add_layernorm_forward(x, r, gamma_->value, beta_->value, eps_, sum_, y_, mean_, rstd_);
  return y_;
}

const Tensor& LayerNorm::backward_add(const Tensor& dy, const Tensor& dh) {
  ensure_like(dx_, x_.shape(), x_);
  ops::add_layernorm_backward(dy, dh, x_, gamma_->value, mean_, rstd_, dx_, gamma_->grad, beta_->grad);
  grad_ready(gamma_);
  grad_ready(beta_);
  return dx_;
}

const Tensor& Dropout::forward(const Tensor& x, const ForwardContext& ctx) {
  active_ = ctx.training && p_ > 0;
  if (!active_) {
    y_ = x;
    return y_;
  }
  seed_ = ctx.seed;
  offset_ = dropout_offset(ctx.step, site_);
  Tensor y = ensure_like(y_, x.shape(), x);
  ops::dropout_forward(x, p_, seed_, offset_, y);
  return y_;
}

const Tensor& Dropout::backward(const Tensor& dy) {
  if (!active_) {
    dx_ = dy;
    return dx_;
  }
  Tensor dx = ensure_like(dx_, dy.shape(), dy);
  ops::dropout_backward(dy, p_, seed_, offset_, dx);
  return dx_;
}

Mlp::Mlp(ParamStore& store, const std::string& name, int64_t dim, int64_t hidden, double dropout)
    : fc1_(store, name + ".fc1", dim, hidden, true, Init::kUniformFanIn, Linear::Activation::kGelu),
      fc2_(store, name + ".fc2", hidden, dim),
      drop_(store, dropout) {}

const Tensor& Mlp::forward(const Tensor& x, const ForwardContext& ctx) {
  return drop_.forward(fc2_.forward(fc1_.forward(x)), ctx);
}

const Tensor& Mlp::backward(const Tensor& dy) { return fc1_.backward(fc2_.backward(drop_.backward(dy))); }

}  // namespace attncamp::models
