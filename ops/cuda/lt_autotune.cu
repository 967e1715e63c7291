// cuBLASLt algorithm autotuning (ops/cuda/lt_autotune.h): every candidate is timed with CUDA
// events on the caller's stream (the calling thread's current stream), on the caller's A and B and
// a scratch C/D tensor; the fastest mean wins.
#include <limits>

#include "ops/cuda/lt_autotune.h"
#include "runtime/cuda/check.h"
#include "runtime/device.h"
#include "runtime/env.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kTimedRuns = 3;

cublasStatus_t run(const LtCall& c, const cublasLtMatmulAlgo_t& algo, void* d) {
  return cublasLtMatmul(c.handle, c.desc, c.alpha, c.a, c.layout_a, c.b, c.layout_b, c.beta, d, c.layout_c, d,
                        c.layout_c, &algo, c.workspace, c.workspace_bytes, c.stream);
}

}  // namespace

bool gemm_autotune_enabled() {
  const bool deterministic = env::flag(env::kDeterministic);
  return env::flag(env::kGemmAutotune) && !deterministic;
}

int fastest_algorithm(const LtCall& call, const cublasLtMatmulHeuristicResult_t* candidates, int count) {
  if (count <= 1) return 0;
  const Tensor scratch =
      Tensor::empty({static_cast<int64_t>(call.c_bytes)}, DType::kU8, Device::cuda(call.device));  // C and D
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(call.stream));
  Event start(call.device), stop(call.device);  // recorded on the current stream, which is call.stream
  int best = 0;
  float best_ms = std::numeric_limits<float>::infinity();
  for (int i = 0; i < count; ++i) {
    if (candidates[i].state != CUBLAS_STATUS_SUCCESS || candidates[i].workspaceSize > call.workspace_bytes) continue;
    void* d = scratch.raw_data();
    if (run(call, candidates[i].algo, d) != CUBLAS_STATUS_SUCCESS) continue;
    start.record_current();
    bool ok = true;
    for (int r = 0; r < kTimedRuns && ok; ++r) ok = run(call, candidates[i].algo, d) == CUBLAS_STATUS_SUCCESS;
    stop.record_current();
    stop.synchronize();
    const float ms = stop.elapsed_ms_since(start);
    if (ok && ms < best_ms) {
      best_ms = ms;
      best = i;
    }
  }
  return best;
}

}  // namespace attncamp::ops::cuda
