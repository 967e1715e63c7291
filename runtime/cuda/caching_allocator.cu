// CUDA backend of the caching allocator: CudaRawMemory (cudaSetDevice + cudaMalloc/cudaFree,
// checked) and the lazily created per-device CachingAllocator used by device_alloc/device_free.
#include <cuda_runtime.h>

#include <memory>
#include <mutex>
#include <vector>

#include "runtime/caching_allocator.h"
#include "runtime/cuda/check.h"
#include "runtime/device.h"

namespace attncamp {
namespace {

class CudaRawMemory : public RawDeviceMemory {
 public:
  explicit CudaRawMemory(int device) : device_(device) {}

  void* allocate(size_t bytes) override {
    ATTNCAMP_CUDA_CHECK(cudaSetDevice(device_));
    void* p = nullptr;
    ATTNCAMP_CUDA_CHECK(cudaMalloc(&p, bytes == 0 ? 1 : bytes));
    return p;
  }

  void free(void* p) noexcept override {
    if (cudaSetDevice(device_) != cudaSuccess || cudaFree(p) != cudaSuccess) {
      cudaGetLastError();  // never throw from free; clear the error so later checks are not confused
    }
  }

 private:
  int device_;
};

}  // namespace

CachingAllocator& cuda_caching_allocator(int device) {
  // Leaked on purpose: destroying these at exit would call cudaFree after the runtime unloads.
  static std::mutex mu;
  static auto* allocators = new std::vector<CachingAllocator*>();
  std::lock_guard<std::mutex> lock(mu);
  if (device >= 0 && static_cast<size_t>(device) < allocators->size() && (*allocators)[device] != nullptr) {
    return *(*allocators)[device];
  }
  const int count = cuda_device_count();
  ATTNCAMP_CHECK(device >= 0 && device < count, "CUDA device ", device, " requested but ", count,
                 " CUDA device(s) are visible on this machine");
  if (allocators->size() < static_cast<size_t>(count)) allocators->resize(count, nullptr);
  (*allocators)[device] = new CachingAllocator(std::make_unique<CudaRawMemory>(device));
  return *(*allocators)[device];
}

}  // namespace attncamp
