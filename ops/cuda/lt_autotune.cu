// cuBLASLt algorithm autotuning (ops/cuda/lt_autotune.h): every candidate is timed with CUDA
// events on the caller's stream, on the caller's A and B and a scratch C/D from the caching
// allocator; the fastest mean wins.
#include <cstdlib>
#include <limits>
#include <string>

#include "ops/cuda/lt_autotune.h"
#include "runtime/allocator.h"
#include "runtime/cuda/check.h"
#include "runtime/device.h"
#include "runtime/env.h"
#include "runtime/error.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kTimedRuns = 3;

// 0, 1 or unset (false) of an environment variable; throws on anything else.
bool env_flag(const char* name) {
  const char* value = std::getenv(name);
  const std::string s = value != nullptr ? value : "";
  ATTNCAMP_CHECK(s.empty() || s == "0" || s == "1", name, " must be 0 or 1, got '", s, "'");
  return s == "1";
}

// Scratch device memory, returned to the caching allocator on scope exit.
class Scratch {
 public:
  Scratch(int device, size_t bytes) : device_(device), ptr_(device_alloc(Device::cuda(device), bytes)) {}
  ~Scratch() { device_free(Device::cuda(device_), ptr_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return ptr_; }

 private:
  int device_;
  void* ptr_;
};

// Event pair timing on one stream (errors ignored in the destructor).
class Timer {
 public:
  Timer() {
    ATTNCAMP_CUDA_CHECK(cudaEventCreate(&start_));
    ATTNCAMP_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~Timer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void start(cudaStream_t s) { ATTNCAMP_CUDA_CHECK(cudaEventRecord(start_, s)); }
  float stop_ms(cudaStream_t s) {
    ATTNCAMP_CUDA_CHECK(cudaEventRecord(stop_, s));
    ATTNCAMP_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    ATTNCAMP_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms;
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

cublasStatus_t run(const LtCall& c, const cublasLtMatmulAlgo_t& algo, void* d) {
  return cublasLtMatmul(c.handle, c.desc, c.alpha, c.a, c.layout_a, c.b, c.layout_b, c.beta, d, c.layout_c, d,
                        c.layout_c, &algo, c.workspace, c.workspace_bytes, c.stream);
}

}  // namespace

bool gemm_autotune_enabled() {
  const bool deterministic = env_flag(env::kDeterministic);
  return env_flag(env::kGemmAutotune) && !deterministic;
}

int fastest_algorithm(const LtCall& call, const cublasLtMatmulHeuristicResult_t* candidates, int count) {
  if (count <= 1) return 0;
  Scratch scratch(call.device, call.c_bytes);
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(call.stream));
  Timer timer;
  int best = 0;
  float best_ms = std::numeric_limits<float>::infinity();
  for (int i = 0; i < count; ++i) {
    if (candidates[i].state != CUBLAS_STATUS_SUCCESS || candidates[i].workspaceSize > call.workspace_bytes) continue;
    if (run(call, candidates[i].algo, scratch.get()) != CUBLAS_STATUS_SUCCESS) continue;
    timer.start(call.stream);
    bool ok = true;
    for (int r = 0; r < kTimedRuns && ok; ++r)
      ok = run(call, candidates[i].algo, scratch.get()) == CUBLAS_STATUS_SUCCESS;
    const float ms = timer.stop_ms(call.stream);
    if (ok && ms < best_ms) {
      best_ms = ms;
      best = i;
    }
  }
  return best;
}

}  // namespace attncamp::ops::cuda
