// Picks the fastest of the algorithms cuBLASLt's heuristic proposes for one matmul, by timing each
// on the call's own operands (ATTNCAMP_GEMM_AUTOTUNE=1; what cudnn.benchmark does for PyTorch's
// convolutions). CUDA translation units only: ops/cuda/gemm.cu calls it when it builds a plan.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "ops/gemm.h"  // gemm_autotune_enabled

namespace attncamp::ops::cuda {

// How many candidates the heuristic is asked for when autotuning.
constexpr int kAutotuneCandidates = 8;

// One cublasLtMatmul call: D = alpha op(A) op(B) + beta C with C and D alike (cuBLASLt's operand
// order), the workspace it may use and the stream it runs on (the calling thread's current stream of
// `device`, where the timing events are recorded).
struct LtCall {
  int device = 0;
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;
  const void* alpha = nullptr;
  const void* a = nullptr;
  cublasLtMatrixLayout_t layout_a = nullptr;
  const void* b = nullptr;
  cublasLtMatrixLayout_t layout_b = nullptr;
  const void* beta = nullptr;
  cublasLtMatrixLayout_t layout_c = nullptr;
  size_t c_bytes = 0;  // bytes the C/D layout spans
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  cudaStream_t stream = nullptr;
};

// Index into `candidates[0 .. count)` of the fastest algorithm for `call`: each runs once, then
// kTimedRuns times between events, writing a scratch C/D (so the caller's C is left as it was,
// also when beta != 0). Candidates that fail to run are skipped; 0 when none runs. Synchronizes
// the stream (plans are built on first use only).
int fastest_algorithm(const LtCall& call, const cublasLtMatmulHeuristicResult_t* candidates, int count);

}  // namespace attncamp::ops::cuda
