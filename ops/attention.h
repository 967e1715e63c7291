// Fused scaled-dot-product attention (forward and backward) for multi-head layers. Scores, softmax
// and the weighted sum are fused per (batch, head), so no [B,H,Sq,Sk] tensor is stored; the forward
// saves each query row's log-sum-exp, from which the backward recomputes the probabilities.
// CUDA tensors run the kernels of ops/cuda/attention_*.cu (FlashAttention-2 style tiling).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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
  // CUDA tensor-core kernels' tile shapes, as indices into attention_mma_variants(pass, dtype,
  // head dim) (tests and benchmarks): -1 takes the default shape (attention_mma_default_variant),
  // or, when attention_autotune_enabled(), the fastest one timed on the first call of the problem
  // class.
  // backward_variant picks among the atomic-dQ backward's shapes; the deterministic backward has
  // one. Ignored on the CPU; an error for the simple kernels.
  int forward_variant = -1;
  int backward_variant = -1;
};

enum class AttentionPass { kForward, kBackward };

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

// Names of the CUDA tensor-core kernels' tile-shape variants for `pass` (the atomic-dQ backward for
// kBackward), bf16 or f16 and head dim 32, 64 or 128, in the order forward_variant and
// backward_variant index them; [0] is the default. Throws for another dtype or head dim, and in
// builds without CUDA.
std::vector<std::string> attention_mma_variants(AttentionPass pass, DType dtype, int64_t head_dim);

// The index into attention_mma_variants(pass, dtype, head_dim) that calls without an explicit
// variant run when the autotuner is off: 0, except the backward at head dim 64 and 128 on devices
// that run the wgmma kernels (`wgmma_device`: attention_wgmma_runs_on) in builds with sm_90a code,
// which takes a two-warpgroup wgmma kernel (docs/gpu.md, "Attention tile shapes"). Host data: no
// device is touched. Throws like attention_mma_variants.
int attention_mma_default_variant(AttentionPass pass, DType dtype, int64_t head_dim, bool wgmma_device);

// Whether CUDA device `device` runs the wgmma attention kernels: compute capability 9.0 (H100,
// H200) and a build with sm_90a code. False in builds without CUDA.
bool attention_wgmma_runs_on(int device);

// Whether calls without an explicit variant let the autotuner pick the tensor-core kernels' tile
// shapes: $ATTNCAMP_ATTENTION_AUTOTUNE=1 (unset: 0), unless $ATTNCAMP_DETERMINISTIC=1 (a call with
// AttentionOptions::deterministic is not autotuned either). Like torch.backends.cudnn.benchmark:
// the first call of each problem class (pass, dtype, head dim, causal, key mask, and B*H, Sq and
// Sk rounded up to powers of 2) times every variant on its own buffers and keeps the fastest of
// those whose outputs agree with the default variant's (docs/gpu.md), so the chosen shape, and
// with it the last bits of the results, can differ from run to run.
bool attention_autotune_enabled();

// One wgmma (sm_90a) of each operand form the wgmma attention kernels use, on small integer
// operands laid out as ops/cuda/attention_wgmma.cuh describes, against the exact products:
// {"<dtype> <form>", max |error|} for bf16 and f16 (0 when the layouts are read right), then the
// same forms with one or both descriptors' LBO and SBO swapped, named "... [alternative: ...]"
// (never 0 when the header is right; the exact one if it had the two strides the wrong way round).
// A GPU diagnostic for the wgmma variants; throws in builds without CUDA or sm_90a code and on
// devices other than compute capability 9.0.
std::vector<std::pair<std::string, double>> attention_wgmma_probe();

// One line per problem class the autotuner has timed in this process (CUDA builds; empty
// otherwise): the class, each variant's time and the chosen one.
std::vector<std::string> attention_autotune_report();

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
  // Tile-shape variants of the tensor-core kernels (AttentionOptions), and whether calls with -1
  // are autotuned (resolved: attention_autotune_enabled() and not deterministic).
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
