// Host side of the attention kernels (CUDA translation units only): grid shapes, the shared-
// memory opt-in above 48 KiB, and the launchers each kernel family's translation unit defines.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/attention_lab.h"
#include "ops/cuda/attention_args.h"
#include "runtime/cuda/check.h"

namespace attncamp::ops::cuda::attn {

// Lets `kernel` use `bytes` of dynamic shared memory on the current device (the default limit is
// 48 KiB; larger tiles opt in, up to the device's per-block maximum).
template <typename Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
  if (bytes <= size_t{48} << 10) return;
  int device = 0, limit = 0;
  ATTNCAMP_CUDA_CHECK(cudaGetDevice(&device));
  ATTNCAMP_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  ATTNCAMP_CHECK(bytes <= static_cast<size_t>(limit), "attention kernel needs ", bytes,
                 " bytes of shared memory per block, CUDA device ", device, " allows ", limit,
                 " (use a smaller head dim)");
  ATTNCAMP_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

// Grid (ceil(n / tile), H, B): x walks tiles of n rows (queries or keys) of one (b, h).
inline dim3 attention_grid(int64_t n, int tile, const AttentionArgs& a) {
  return dim3(static_cast<unsigned>((n + tile - 1) / tile), static_cast<unsigned>(a.heads),
              static_cast<unsigned>(a.batch));
}

// ops/cuda/attention_simple.cu: delta = rowsum(dout * out), and the f32-FMA kernels.
void launch_delta(const AttentionArgs& a, cudaStream_t stream);
void simple_forward(const AttentionArgs& a, cudaStream_t stream);
void simple_backward(const AttentionArgs& a, cudaStream_t stream);  // after launch_delta

// Tensor-core kernels with the shipped tile shapes (attention_shapes.cuh), T = __nv_bfloat16 or
// __half, head dim 32, 64 or 128 (ops/cuda/attention_mma_{fwd,bwd}_{bf16,f16}.cu): the forward;
// the atomic-dQ backward (after launch_delta; a.dq_accum set) with the shape of a.device's class;
// the deterministic backward (after launch_delta).
template <typename T>
void mma_forward_shipped(const AttentionArgs& a, cudaStream_t stream);
template <typename T>
void mma_backward_shipped(const AttentionArgs& a, cudaStream_t stream);
template <typename T>
void mma_backward_deterministic(const AttentionArgs& a, cudaStream_t stream);

// The tuning lab: a tensor-core kernel launcher for one tile shape, and its name
// (attention_mma_variants.cuh).
using AttentionLaunch = void (*)(const AttentionArgs&, cudaStream_t);
struct MmaVariant {
  std::string name;  // e.g. "<64,2,4w> n64": see attention_variants.cuh
  AttentionLaunch launch;
};

// The lab's tile-shape variants for a head dim (32, 64 or 128; the shape shipped on every device
// first): the forward's and the atomic-dQ backward's (after launch_delta; a.dq_accum set), T as
// above.
template <typename T>
const std::vector<MmaVariant>& mma_forward_variants(int64_t head_dim);
template <typename T>
const std::vector<MmaVariant>& mma_backward_variants(int64_t head_dim);

// Compute capability of CUDA device `device` as 10 * major + minor (90 for the H100 and H200).
inline int compute_capability(int device) {
  int major = 0, minor = 0;
  ATTNCAMP_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  ATTNCAMP_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  return 10 * major + minor;
}

// ops/cuda/attention_mma_default.cu: whether CUDA device `device` runs the wgmma kernels (compute
// capability 9.0, and this build holds sm_90a code; remembered per device), and the index of the
// shipped shape among the lab's variants (ops::attention_mma_default_variant).
bool wgmma_runs_on(int device);
int mma_default_variant(AttentionPass pass, int64_t head_dim, bool wgmma);

// ops/cuda/attention_autotune.cu: index into `variants` of the fastest for the problem class of
// `a` (kernel `pass`, dtype, device, head dim, causal, key mask, and B*H, Sq, Sk rounded up to
// powers of 2), timed on `a`'s own buffers the first time the class is seen (which synchronizes
// `stream`, the calling thread's current stream of a.device), then remembered for the process.
// Runs every variant, so the caller launches the winner afterwards for the call's outputs.
int autotuned_variant(AttentionPass pass, const AttentionArgs& a, const std::vector<MmaVariant>& variants,
                      cudaStream_t stream);

}  // namespace attncamp::ops::cuda::attn
