// CUDA device runtime: availability queries (allocation lives in cuda/caching_allocator.cu).
// Uses only the CUDA runtime API, which reports "no device" instead of
// failing to load on machines without a GPU or driver.
#include <cuda_runtime.h>

#include "runtime/cuda/check.h"
#include "runtime/cuda_context.h"
#include "runtime/device.h"

namespace attncamp {

bool cuda_compiled() { return true; }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device / no driver" error
    return 0;
  }
  return n;
}

// Copy in any direction (unified addressing tells the runtime where each side lives), queued on
// the current stream of `device` so it is ordered after the kernels that produced the source,
// then (with `wait`) waited for, so the copy is synchronous for the caller.
void cuda_copy(void* dst, const void* src, size_t bytes, int device, bool wait) {
  ATTNCAMP_CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t s = static_cast<cudaStream_t>(current_cuda_stream(device));
  ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  if (wait) ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(s));
}

void* pinned_host_alloc(size_t bytes) {
  void* p = nullptr;
  ATTNCAMP_CUDA_CHECK(cudaHostAlloc(&p, bytes == 0 ? 1 : bytes, cudaHostAllocDefault));
  return p;
}

void pinned_host_free(void* ptr) noexcept {
  if (ptr != nullptr && cudaFreeHost(ptr) != cudaSuccess) cudaGetLastError();
}

}  // namespace attncamp
