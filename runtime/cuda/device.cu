// CUDA device runtime: availability queries (allocation lives in cuda/caching_allocator.cu).
// Uses only the CUDA runtime API, which reports "no device" instead of
// failing to load on machines without a GPU or driver.
#include <cuda_runtime.h>

#include "runtime/cuda/check.h"
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

// Synchronous copy in any direction; unified addressing tells the runtime where each side lives.
void cuda_copy(void* dst, const void* src, size_t bytes) {
  ATTNCAMP_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}

}  // namespace attncamp
