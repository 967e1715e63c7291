// MultiHeadSelfAttention and AttentionPool forward/backward composed from ops.
#include "models/attention_layers.h"

#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/gemm.h"
#include "ops/softmax.h"

namespace attncamp::models {

MultiHeadSelfAttention::MultiHeadSelfAttention(ParamStore& store, const std::string& name, int64_t dim, int64_t heads,
                                               double dropout)
    : dim_(dim),
      heads_(heads),
      qkv_(store, name + ".qkv", dim, 3 * dim),
      proj_(store, name + ".proj", dim, dim),
      drop_(store, dropout) {
  ATTNCAMP_CHECK(heads > 0 && dim % heads == 0, "attention heads (", heads, ") must divide dim (", dim, ")");
}

const Tensor& MultiHeadSelfAttention::forward(const Tensor& x, const Tensor& key_valid, const ForwardContext& ctx) {
  ATTNCAMP_CHECK(x.dim() == 3 && x.size(2) == dim_, "self-attention expects [B,S,", dim_, "], got ",
                 shape_str(x.shape()));
  const int64_t b = x.size(0), s = x.size(1), hd = dim_ / heads_;
  key_valid_ = key_valid;
  qkv5_ = qkv_.forward(x).view({b, s, 3, heads_, hd});
  ensure_like(attn_, {b, s, heads_, hd}, x);
  ensure_tensor(lse_, {b, heads_, s}, stat_dtype(x), x.device());
  ops::attention_qkvpacked_forward(qkv5_, key_valid, ops::AttentionOptions{}, attn_, lse_);
  return drop_.forward(proj_.forward(attn_.view({b, s, dim_})), ctx);
}

const Tensor& MultiHeadSelfAttention::backward(const Tensor& dy) {
  const int64_t b = attn_.size(0), s = attn_.size(1);
  const Tensor& dattn = proj_.backward(drop_.backward(dy));
  ensure_like(dqkv_, qkv5_.shape(), qkv5_);
  ops::attention_qkvpacked_backward(qkv5_, key_valid_, ops::AttentionOptions{}, attn_, lse_, dattn.view(attn_.shape()),
                                    dqkv_);
  return qkv_.backward(dqkv_.view({b, s, 3 * dim_}));
}

AttentionPool::AttentionPool(ParamStore& store, const std::string& name, int64_t dim, int64_t hidden)
    : dim_(dim), hidden_(hidden), v_(store, name + ".V", dim, hidden, false) {
  w_ = store.add(name + ".w", {hidden}, Init::kTruncNormal02, true);
}

const Tensor& AttentionPool::forward(const Tensor& h) {
  ATTNCAMP_CHECK(h.dim() == 3 && h.size(2) == dim_, "attention pooling expects [B,S,", dim_, "], got ",
                 shape_str(h.shape()));
  const int64_t b = h.size(0), s = h.size(1);
  h_ = h;
  const Tensor& pre = v_.forward(h);  // [B,S,hidden]
  ensure_like(u_, pre.shape(), h);
  ops::tanh_forward(pre, u_);
  ensure_like(s_, {b * s, 1}, h);
  ops::gemm(u_.view({b * s, hidden_}), false, w_->compute.view({hidden_, 1}), false, s_);  // scores
  ensure_like(a_, {b, s}, h);
  ops::softmax_forward(s_.view({b, s}), a_);
  ensure_like(out_, {b, 1, dim_}, h);
  ops::gemm(a_.view({b, 1, s}), false, h, false, out_);  // sum_i a_i h_i
  out_ = out_.view({b, dim_});
  return out_;
}

const Tensor& AttentionPool::backward(const Tensor& dout) {
  const int64_t b = h_.size(0), s = h_.size(1);
  // da_i = dout . h_i ; dh_i = a_i dout
  ensure_like(da_, {b, s, 1}, h_);
  ops::gemm(h_, false, dout.view({b, dim_, 1}), false, da_);
  ensure_like(dh_, h_.shape(), h_);
  ops::gemm(a_.view({b, 1, s}), true, dout.view({b, 1, dim_}), false, dh_);
  // Through the softmax over tokens, then the scores s = u w.
  ensure_like(ds_, {b, s}, h_);
  ops::softmax_backward(a_, da_.view({b, s}), ds_);
  ops::gemm(u_.view({b * s, hidden_}), true, ds_.view({b * s, 1}), false, w_->grad.view({hidden_, 1}), 1.0, 1.0);
  grad_ready(w_);
  ensure_like(du_, u_.shape(), h_);
  ops::gemm(ds_.view({b * s, 1}), false, w_->compute.view({1, hidden_}), false, du_.view({b * s, hidden_}));
  Tensor dpre = du_;
  ops::tanh_backward(u_, du_, dpre);
  const Tensor& dh2 = v_.backward(dpre);
  ops::add_(dh_, dh2);
  return dh_;
}

}  // namespace attncamp::models
