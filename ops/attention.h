// Fused scaled-dot-product attention (forward and backward) for multi-head layers. Scores, softmax
// and the weighted sum are fused per (batch, head), so no [B,H,Sq,Sk] tensor is stored; the forward
// saves each query row's log-sum-exp, from which the backward recomputes the probabilities.
// CUDA tensors run the kernels of ops/cuda/attention_*.cu (FlashAttention-2 style tiling) with the
// tile shapes they ship; ops/attention_lab.h (tests, benchmarks) picks among the lab's variants,
// and $ATTNCAMP_ATTENTION_AUTOTUNE=1 lets the autotuner time them (docs/gpu.md).
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// Kernel family on CUDA (the CPU ignores it). kMma: tensor cores (mma.sync), bf16/f16 with head
// dim 32, 64 or 128 and 16-byte aligned rows; kSimple: f32 FMA tiles, any activation dtype, head
// dim <= 256; kAuto: kMma where it applies, else kSimple.
enum class AttentionImpl { kAuto, kSimple, kMma };

struct AttentionOptions {
  // Causal masking, top-left aligned: query i attends keys j <= i (also when Sq != Sk;
  // unlike PyTorch's bottom-right alignment, no Sk-Sq offset is added).
  bool causal = false;
  // Multiplier of q.k; 0 means 1/sqrt(D).
  double scale = 0;
  // CUDA kernel family; kAuto defers to $ATTNCAMP_ATTENTION_IMPL (auto, simple or mma) when set.
  AttentionImpl impl = AttentionImpl::kAuto;
  // CUDA tensor-core backward: false sums dQ with atomics inside the dK/dV kernel (faster; the
  // summation order, and so the last bits of dq, vary from run to run), true runs a separate dQ
  // kernel (bitwise reproducible). $ATTNCAMP_DETERMINISTIC=1 makes every call deterministic.
  // The CPU and the simple CUDA kernels are always deterministic.
  bool deterministic = false;
};

// Layouts (all contiguous): q [B,Sq,H,D], k and v [B,Sk,H,D], out [B,Sq,H,D], lse [B,H,Sq].
// On the CPU every tensor but key_valid has one dtype, f32 or f64. On CUDA q, k, v, out (and
// dout, dq, dk, dv) share one dtype, f32, bf16 or f16 (computed in f32), and lse is f32.
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

// The CUDA kernel family that runs a call (kSimple or kMma): `requested`, or for kAuto the
// environment's choice or else kMma where it applies. `rows_aligned`: every q/k/v/out row (and
// gradient row) starts 16-byte aligned. Throws when the chosen family cannot run the call.
AttentionImpl resolve_attention_impl(AttentionImpl requested, DType dtype, int64_t head_dim, bool rows_aligned);

// Whether the backward must be deterministic: `requested` or $ATTNCAMP_DETERMINISTIC (1 or 0,
// unset: 0). Throws on another value of the variable.
bool resolve_attention_deterministic(bool requested);

}  // namespace attncamp::ops
