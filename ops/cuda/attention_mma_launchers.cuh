// Host launchers of the tensor-core attention kernels for a given tile shape, and of the shipped
// shapes (attention_shapes.cuh) by head dim (CUDA translation units only). The kernel headers hold
// device code alone, so tests/emu can compile them for its CPU emulation; the tuning lab's variant
// lists are in attention_mma_variants.cuh.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "ops/cuda/attention_launch.cuh"
#include "ops/cuda/attention_mma_bwd.cuh"
#include "ops/cuda/attention_mma_fwd.cuh"
#include "ops/cuda/attention_shapes.cuh"
#include "ops/cuda/attention_wgmma_bwd.cuh"
#include "ops/cuda/attention_wgmma_fwd.cuh"

namespace attncamp::ops::cuda::attn {

// The wgmma kernels are sm_90a code: built where CMAKE_CUDA_ARCHITECTURES names 90
// (ATTNCAMP_WGMMA_SM90A, ops/CMakeLists.txt), run on compute capability 9.0 devices only.
inline void require_wgmma_device(const char* kernel) {
#ifndef ATTNCAMP_WGMMA_SM90A
  ATTNCAMP_THROW(kernel, " needs sm_90a code: build with 90 in CMAKE_CUDA_ARCHITECTURES");
#else
  int device = 0;
  ATTNCAMP_CUDA_CHECK(cudaGetDevice(&device));
  ATTNCAMP_CHECK(wgmma_runs_on(device), kernel, " runs on compute capability 9.0 (H100, H200) only; CUDA device ",
                 device, " is ", compute_capability(device) / 10, ".", compute_capability(device) % 10);
#endif
}

// Launches the forward with tile shape C (the pipelined kernel when C::kPipelined, the wgmma
// kernel when C::kWgmma) on `stream`.
template <typename T, class C>
void launch_mma_forward(const AttentionArgs& a, cudaStream_t stream) {
  void (*kernel)(const AttentionArgs) = nullptr;  // only the chosen kernel is instantiated
  if constexpr (C::kWgmma) {
    require_wgmma_device("the wgmma attention forward");
    if constexpr (C::kPipelined) {
      kernel = wgmma_forward_pipelined_kernel<T, C>;
    } else {
      kernel = wgmma_forward_kernel<T, C>;
    }
  } else if constexpr (C::kPipelined) {
    kernel = mma_forward_pipelined_kernel<T, C>;
  } else {
    kernel = mma_forward_kernel<T, C>;
  }
  allow_smem(kernel, C::kSmemBytes);
  kernel<<<attention_grid(a.seq_q, C::kM, a), C::kThreads, C::kSmemBytes, stream>>>(a);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

// Launch the dK/dV kernel with tile shape C (with DkdvDq::kAtomic also summing dQ into a.dq_accum,
// which the caller zeroes; the wgmma kernel when C::kWgmma), and the dQ kernel with tile shape Cq,
// on `stream` (after launch_delta).
template <typename T, class C, DkdvDq kDq = DkdvDq::kNone>
void launch_mma_dkdv(const AttentionArgs& a, cudaStream_t stream) {
  constexpr size_t kSmem = C::smem_bytes(kDq);
  void (*kernel)(const AttentionArgs) = nullptr;  // only the chosen kernel is instantiated
  if constexpr (C::kWgmma) {
    static_assert(kDq == DkdvDq::kAtomic, "the wgmma backward kernel always sums dQ");
    require_wgmma_device("the wgmma attention backward");
    kernel = wgmma_dkdvq_kernel<T, C>;
  } else {
    kernel = mma_dkdv_kernel<T, C, kDq>;
  }
  allow_smem(kernel, kSmem);
  kernel<<<attention_grid(a.seq_k, C::kKeys, a), C::kThreads, kSmem, stream>>>(a);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}
template <typename T, class Cq>
void launch_mma_dq(const AttentionArgs& a, cudaStream_t stream) {
  allow_smem(mma_dq_kernel<T, Cq>, Cq::kSmemBytes);
  mma_dq_kernel<T, Cq><<<attention_grid(a.seq_q, Cq::kRows, a), Cq::kThreads, Cq::kSmemBytes, stream>>>(a);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

// The atomic-dQ backward after launch_delta: zero a.dq_accum, the dK/dV kernel with dQ (tile
// shape C), then dq = scale * dq_accum.
template <typename T, class C>
void launch_mma_backward_atomic_dq(const AttentionArgs& a, cudaStream_t stream) {
  constexpr int kD = C::kHeadDim, kThreads = 256;
  const int64_t elems = a.batch * a.heads * a.seq_q * kD;
  // float2 atomics and the conversion kernel's float4 reads.
  ATTNCAMP_CHECK(reinterpret_cast<uintptr_t>(a.dq_accum) % 16 == 0,
                 "attention backward: the dq_accum workspace must be 16-byte aligned");
  ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(a.dq_accum, 0, sizeof(float) * static_cast<size_t>(elems), stream));
  if (a.seq_k > 0) launch_mma_dkdv<T, C, DkdvDq::kAtomic>(a, stream);
  const int64_t blocks = std::min<int64_t>((elems / 8 + kThreads - 1) / kThreads, int64_t{1} << 20);
  mma_dq_convert_kernel<T, kD><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(a);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

// The shipped shapes for a.head_dim (32, 64 or 128; else throws) on `stream`: the forward, the
// atomic-dQ backward (after launch_delta; a.dq_accum set) with the shape of the device's class,
// and the deterministic backward (after launch_delta).
template <typename T, int kD>
void run_mma_forward_shipped(const AttentionArgs& a, cudaStream_t stream) {
  launch_mma_forward<T, typename AttentionShapes<kD>::Forward>(a, stream);
}
template <typename T, int kD>
void run_mma_backward_shipped(const AttentionArgs& a, cudaStream_t stream) {
  if (wgmma_runs_on(a.device)) {
    launch_mma_backward_atomic_dq<T, typename AttentionShapes<kD>::BackwardSm90>(a, stream);
  } else {
    launch_mma_backward_atomic_dq<T, typename AttentionShapes<kD>::Backward>(a, stream);
  }
}
template <typename T, int kD>
void run_mma_backward_deterministic(const AttentionArgs& a, cudaStream_t stream) {
  if (a.seq_k > 0) launch_mma_dkdv<T, typename AttentionShapes<kD>::DeterministicDkdv>(a, stream);
  if (a.seq_q > 0) launch_mma_dq<T, typename AttentionShapes<kD>::DeterministicDq>(a, stream);
}

// run(head dim as a template argument) for a.head_dim.
template <class Run>
void on_head_dim(int64_t head_dim, Run run) {
  switch (head_dim) {
    case 32: run(std::integral_constant<int, 32>{}); break;
    case 64: run(std::integral_constant<int, 64>{}); break;
    case 128: run(std::integral_constant<int, 128>{}); break;
    default: ATTNCAMP_THROW("tensor-core attention supports head dim 32, 64 or 128, got ", head_dim);
  }
}

template <typename T>
void mma_forward_shipped(const AttentionArgs& a, cudaStream_t stream) {
  on_head_dim(a.head_dim, [&](auto d) { run_mma_forward_shipped<T, decltype(d)::value>(a, stream); });
}
template <typename T>
void mma_backward_shipped(const AttentionArgs& a, cudaStream_t stream) {
  on_head_dim(a.head_dim, [&](auto d) { run_mma_backward_shipped<T, decltype(d)::value>(a, stream); });
}
template <typename T>
void mma_backward_deterministic(const AttentionArgs& a, cudaStream_t stream) {
  on_head_dim(a.head_dim, [&](auto d) { run_mma_backward_deterministic<T, decltype(d)::value>(a, stream); });
}

}  // namespace attncamp::ops::cuda::attn
