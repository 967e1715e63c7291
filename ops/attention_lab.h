// The attention tuning lab, for tests, benchmarks and the training log (models need only
// ops/attention.h): the CUDA tensor-core kernels' tile-shape variants (the shipped shape and its
// candidates, ops/cuda/attention_variants.cuh), a scope that makes this thread's attention calls
// run one of them, the autotuner's switch and report, and the wgmma probe. docs/gpu.md, "Attention
// tile shapes", says how a candidate becomes a shipped shape.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ops/attention.h"
#include "runtime/tensor.h"

namespace attncamp::ops {

enum class AttentionPass { kForward, kBackward };

// Names of the CUDA tensor-core kernels' tile-shape variants for `pass` (the atomic-dQ backward for
// kBackward), bf16 or f16 and head dim 32, 64 or 128, in the order AttentionVariants indexes them;
// [0] is the shape the launchers ship on every device (for the backward: on devices that do not
// run the wgmma kernels). Throws for another dtype or head dim, and in builds without CUDA.
std::vector<std::string> attention_mma_variants(AttentionPass pass, DType dtype, int64_t head_dim);

// The index into attention_mma_variants(pass, dtype, head_dim) of the shape that calls outside a
// ScopedAttentionVariants run when the autotuner is off: the forward's and, on devices that do not
// run the wgmma kernels, the backward's first; on devices that do (`wgmma_device`:
// attention_wgmma_runs_on) in builds with sm_90a code, the backward's two-warpgroup wgmma kernel at
// head dim 64 and 128 (ops/cuda/attention_shapes.cuh). Host data: no device is touched. Throws
// like attention_mma_variants.
int attention_mma_default_variant(AttentionPass pass, DType dtype, int64_t head_dim, bool wgmma_device);

// Whether CUDA device `device` runs the wgmma attention kernels: compute capability 9.0 (H100,
// H200) and a build with sm_90a code. False in builds without CUDA.
bool attention_wgmma_runs_on(int device);

// Tile-shape variants of the CUDA tensor-core kernels, as indices into attention_mma_variants(pass,
// dtype, head dim); -1 runs the shipped shape or, when attention_autotune_enabled(), the fastest
// one timed on the first call of the problem class. `backward` picks among the atomic-dQ
// backward's shapes; the deterministic backward has one.
struct AttentionVariants {
  int forward = -1;
  int backward = -1;
};

// While alive, the attention calls of this thread (ops/attention.h) on CUDA tensors run `variants`
// (as the CUDA stream, the choice belongs to the calling thread); the destructor restores the
// choice before it, so scopes nest. Ignored on the CPU. A call with an index >= 0 throws when the
// index is out of range, when it runs the simple kernels, and, for `backward`, when the backward
// is deterministic (one shape).
class ScopedAttentionVariants {
 public:
  explicit ScopedAttentionVariants(AttentionVariants variants);
  ~ScopedAttentionVariants();
  ScopedAttentionVariants(const ScopedAttentionVariants&) = delete;
  ScopedAttentionVariants& operator=(const ScopedAttentionVariants&) = delete;

 private:
  AttentionVariants previous_;
};

// The variants this thread's calls run now ({-1, -1} outside every ScopedAttentionVariants).
AttentionVariants current_attention_variants();

// Whether calls without an explicit variant let the autotuner pick the tensor-core kernels' tile
// shapes: $ATTNCAMP_ATTENTION_AUTOTUNE=1 (unset: 0), unless $ATTNCAMP_DETERMINISTIC=1 (a call with
// AttentionOptions::deterministic is not autotuned either). Like torch.backends.cudnn.benchmark:
// the first call of each problem class (pass, dtype, head dim, causal, key mask, and B*H, Sq and
// Sk rounded up to powers of 2) times every variant on its own buffers and keeps the fastest of
// those whose outputs agree with the first variant's (docs/gpu.md), so the chosen shape, and with
// it the last bits of the results, can differ from run to run.
bool attention_autotune_enabled();

// One line per problem class the autotuner has timed in this process (CUDA builds; empty
// otherwise): the class, each variant's time and the chosen one.
std::vector<std::string> attention_autotune_report();

// One wgmma (sm_90a) of each operand form the wgmma attention kernels use, on small integer
// operands laid out as ops/cuda/attention_wgmma.cuh describes, against the exact products:
// {"<dtype> <form>", max |error|} for bf16 and f16 (0 when the layouts are read right), then the
// same forms with one or both descriptors' LBO and SBO swapped, named "... [alternative: ...]"
// (never 0 when the header is right; the exact one if it had the two strides the wrong way round).
// A GPU diagnostic for the wgmma variants; throws in builds without CUDA or sm_90a code and on
// devices other than compute capability 9.0.
std::vector<std::pair<std::string, double>> attention_wgmma_probe();

}  // namespace attncamp::ops
