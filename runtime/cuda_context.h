// Which CUDA stream work goes to: every thread has a current stream per device (the legacy
// default stream, nullptr, unless a CudaStreamGuard says otherwise). Ops launch their kernels
// on it and the caching allocator allocates for it, so stream order makes buffer reuse safe.
// Plain C++ (no CUDA headers): usable from any translation unit and in CPU-only builds.
#pragma once

#include "runtime/stream.h"

namespace attncamp {

// The calling thread's current stream on `device`, as an opaque cudaStream_t (nullptr = the
// legacy default stream).
void* current_cuda_stream(int device);

// Makes `stream` the calling thread's current stream on its device for the guard's lifetime
// (restores the previous one on destruction). Non-copyable, non-movable.
class CudaStreamGuard {
 public:
  explicit CudaStreamGuard(const Stream& stream);
  ~CudaStreamGuard();
  CudaStreamGuard(const CudaStreamGuard&) = delete;
  CudaStreamGuard& operator=(const CudaStreamGuard&) = delete;

 private:
  int device_;
  void* previous_;
};

// Blocks until all work on the calling thread's current stream of `device` is done.
// Throws in builds without CUDA.
void cuda_synchronize(int device);

}  // namespace attncamp
