// Internals shared by the CPU attention reference (ops/cpu/attention.cpp) and the tensor-level
// entry points that check shapes and send CUDA tensors to ops/cuda (ops/cpu/attention_api.cpp).
#pragma once

#include <cstdint>

#include "ops/attention.h"

namespace attncamp::ops::cpu {

// Shapes of one call, checked at the tensor level.
struct AttnDims {
  int64_t batch, seq_q, seq_k, heads, head_dim;
};

// Element strides of a [B,S,H,D] view (the D stride is 1).
struct SeqStrides {
  int64_t batch = 0, seq = 0, head = 0;
};

// The multiplier of q.k: opt.scale, or 1/sqrt(D) when it is 0 (throws when not finite).
double resolve_scale(const AttentionOptions& opt, int64_t head_dim);

// Strides of a contiguous [B,S,H,D] tensor.
SeqStrides dense_strides(const AttnDims& a, int64_t seq);

// Strides of q, k and v (and their gradients) inside a packed [B,S,3,H,D] tensor; k and v start
// H*D and 2*H*D elements after q.
SeqStrides packed_strides(const AttnDims& a);

// The CPU reference in q's (qkv's) dtype, f32 or f64, on checked tensors: the forward (out, lse),
// or with dout the backward (dq, dk, dv or dqkv).
void run_unpacked(const AttnDims& a, const AttentionOptions& opt, const Tensor& q, const Tensor& k, const Tensor& v,
                  const Tensor& key_valid, const Tensor& out, const Tensor& lse, const Tensor* dout, Tensor* dq,
                  Tensor* dk, Tensor* dv);
void run_packed(const AttnDims& a, const AttentionOptions& opt, const Tensor& qkv, const Tensor& key_valid,
                const Tensor& out, const Tensor& lse, const Tensor* dout, Tensor* dqkv);

}  // namespace attncamp::ops::cpu
