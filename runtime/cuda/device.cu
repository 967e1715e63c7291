// CUDA device runtime: availability queries and raw device allocation.
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

void* cuda_alloc(int device, size_t bytes) {
  ATTNCAMP_CUDA_CHECK(cudaSetDevice(device));
  void* p = nullptr;
  ATTNCAMP_CUDA_CHECK(cudaMalloc(&p, bytes == 0 ? 1 : bytes));
  return p;
}

void cuda_free(int device, void* ptr) noexcept {
  cudaSetDevice(device);
  cudaFree(ptr);
}

}  // namespace attncamp
