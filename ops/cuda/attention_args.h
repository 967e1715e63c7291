// The CUDA attention launch arguments: sizes, options resolved by ops/cpu/attention_api.cpp and
// device pointers, passed by value to every attention kernel (a plain parameter struct), and the
// entry points of ops/cuda/attention.cu. Internal to the op: models call ops/attention.h.
#pragma once

#include <cstdint>

#include "ops/attention.h"
#include "runtime/tensor.h"

namespace attncamp::ops {

// CUDA launchers (ops/cuda/attention_*.cu), queued on the calling thread's current stream of
// `device`. Device pointers; q, k, v, out, dout, dq, dk, dv have dtype `dtype` (f32, bf16 or
// f16) and the D stride 1; lse and delta are f32.
namespace cuda {

// Element strides of a [B,S,H,D] view.
struct SeqStrides {
  int64_t batch = 0, seq = 0, head = 0;
};

struct AttentionArgs {
  int64_t batch = 0, seq_q = 0, seq_k = 0, heads = 0, head_dim = 0;
  DType dtype = DType::kF32;
  bool causal = false;
  float scale = 1;                              // multiplier of q.k (resolved, never 0)
  AttentionImpl impl = AttentionImpl::kSimple;  // kSimple or kMma (resolved)
  const void* q = nullptr;                      // [B,Sq,H,D], strides q_stride
  const void* k = nullptr;                      // [B,Sk,H,D], strides k_stride
  const void* v = nullptr;                      // [B,Sk,H,D], strides v_stride
  const uint8_t* key_valid = nullptr;           // [B,Sk] or nullptr (every key attendable)
  void* out = nullptr;                          // [B,Sq,H,D], strides out_stride (read by the backward)
  float* lse = nullptr;                         // [B,H,Sq] contiguous (natural log; -inf for empty rows)
  const void* dout = nullptr;                   // backward: [B,Sq,H,D], strides out_stride
  void* dq = nullptr;                           // backward: strides q_stride, overwritten
  void* dk = nullptr;                           // backward: strides k_stride, overwritten
  void* dv = nullptr;                           // backward: strides v_stride, overwritten
  float* delta = nullptr;                       // backward workspace: [B,H,Sq], rowsum(dout * out)
  // Backward workspace [B,H,Sq,D] f32 of the tensor-core path: when set, dQ is summed there
  // with atomics inside the dK/dV kernel (faster, summation order varies); nullptr selects the
  // deterministic backward (a separate dQ kernel). The simple path ignores it.
  float* dq_accum = nullptr;
  // The tuning lab's tile-shape variants of the tensor-core kernels (ScopedAttentionVariants,
  // ops/attention_lab.h; -1: the shipped shape), and whether calls with -1 are autotuned
  // (resolved: attention_autotune_enabled() and not deterministic).
  int forward_variant = -1, backward_variant = -1;
  bool autotune = false;
  SeqStrides q_stride, k_stride, v_stride, out_stride;
  int device = 0;
};
// Writes out and lse.
void attention_forward(const AttentionArgs& a);
// Writes dq, dk, dv (and delta) from q, k, v, out, lse and dout.
void attention_backward(const AttentionArgs& a);

}  // namespace cuda

}  // namespace attncamp::ops
