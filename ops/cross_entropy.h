// Fused softmax + cross-entropy with label smoothing: per-row losses and (optionally) the
// gradient with respect to the logits in one pass, computed stably through the log-sum-exp.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// logits [N,C] (CPU: f32 or f64; CUDA: f32, bf16 or f16), labels i32 [N] in [0, C) or -1 (row ignored).
// Target q = (1 - label_smoothing) * onehot(label) + label_smoothing / C.
// losses [N] (CPU: logits' dtype; CUDA: f32): losses[i] = -sum_c q_c log softmax(logits_i)_c in nats;
// 0 for ignored rows. dlogits [N,C] (logits' dtype) = grad_scale * (softmax(logits_i) - q), a zero
// row for ignored rows; pass an undefined tensor to skip it. Throws naming the row of any label
// outside [-1, C) (on CUDA this waits for the kernel, which checks the labels on the device).
void cross_entropy_forward_backward(const Tensor& logits, const Tensor& labels, double label_smoothing,
                                    double grad_scale, Tensor& losses, Tensor& dlogits);

// CUDA launcher (ops/cuda/cross_entropy.cu) on the calling thread's current stream of `device`;
// device pointers. Computes in f32; throws like the tensor-level op on a bad label (after waiting
// for the stream).
namespace cuda {
struct CrossEntropyArgs {
  int64_t rows = 0, cols = 0;
  DType act = DType::kF32;          // logits and dlogits: f32, bf16 or f16
  const void* logits = nullptr;     // [rows, cols]
  const int32_t* labels = nullptr;  // [rows]
  float* losses = nullptr;          // [rows]
  void* dlogits = nullptr;          // [rows, cols] or nullptr
  double label_smoothing = 0, grad_scale = 1;
  int device = 0;
};
void cross_entropy_forward_backward(const CrossEntropyArgs& a);
}  // namespace cuda

}  // namespace attncamp::ops
