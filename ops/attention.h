// Fused scaled-dot-product attention (forward and backward) for multi-head layers. Scores, softmax
// and the weighted sum are fused per (batch, head), so no [B,H,Sq,Sk] tensor is stored; the forward
// saves each query row's log-sum-exp, from which the backward recomputes the probabilities.
#pragma once

#include "runtime/tensor.h"

namespace attncamp::ops {

struct AttentionOptions {
  // Causal masking, top-left aligned: query i attends keys j <= i (also when Sq != Sk;
  // unlike PyTorch's bottom-right alignment, no Sk-Sq offset is added).
  bool causal = false;
  // Multiplier of q.k; 0 means 1/sqrt(D).
  double scale = 0;
};

// Layouts (all contiguous, one float dtype, f32 or f64):
//   q [B,Sq,H,D], k and v [B,Sk,H,D], out [B,Sq,H,D], lse [B,H,Sq].
// key_valid: undefined (every key may be attended) or u8 [B,Sk], nonzero = key b,j may be attended.
// out[b,i,h] = sum_j p_ij v[b,j,h] with p_i = softmax_j(scale * q[b,i,h].k[b,j,h]) over the
// attendable keys; lse[b,h,i] = log sum_j exp(scale * q.k) (natural log, over attendable keys).
// A query row with no attendable key gets out = 0, lse = -inf, and zero gradients.
void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                       const AttentionOptions& opt, Tensor& out, Tensor& lse);

// Gradients of attention_forward given dout [B,Sq,H,D] and the forward's out and lse.
// dq [B,Sq,H,D], dk and dv [B,Sk,H,D] are overwritten (masked keys get 0).
void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                        const AttentionOptions& opt, const Tensor& out, const Tensor& lse, const Tensor& dout,
                        Tensor& dq, Tensor& dk, Tensor& dv);

// Self-attention on packed projections: qkv [B,S,3,H,D] (the output of one Linear with 3*H*D
// features; index 0/1/2 of dim 2 is q/k/v), out [B,S,H,D], lse [B,H,S]; key_valid as above.
void attention_qkvpacked_forward(const Tensor& qkv, const Tensor& key_valid, const AttentionOptions& opt, Tensor& out,
                                 Tensor& lse);

// Backward of attention_qkvpacked_forward; dqkv [B,S,3,H,D] is overwritten.
void attention_qkvpacked_backward(const Tensor& qkv, const Tensor& key_valid, const AttentionOptions& opt,
                                  const Tensor& out, const Tensor& lse, const Tensor& dout, Tensor& dqkv);

}  // namespace attncamp::ops
