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
// then waited for: the copy is synchronous for the caller.
void cuda_copy(void* dst, const void* src, size_t bytes, int device) {
  ATTNCAMP_CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t s = static_cast<cudaStream_t>(current_cuda_stream(device));
  ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace attncamp
