// CPU allocator (aligned_alloc); CUDA allocation is provided by runtime/cuda.
#include "runtime/allocator.h"

#include <cstdlib>

#include "runtime/error.h"

namespace attncamp {

#ifdef ATTNCAMP_WITH_CUDA
void* cuda_alloc(int device, size_t bytes);
void cuda_free(int device, void* ptr) noexcept;
#endif

void* device_alloc(Device device, size_t bytes) {
  if (device.is_cpu()) {
    size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    if (rounded == 0) rounded = kCpuAlignment;
    void* p = std::aligned_alloc(kCpuAlignment, rounded);
    ATTNCAMP_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
    return p;
  }
#ifdef ATTNCAMP_WITH_CUDA
  return cuda_alloc(device.index, bytes);
#else
  ATTNCAMP_THROW("device ", device.str(),
                 " requested but this build has no CUDA support (configure with -DATTNCAMP_CUDA=ON)");
#endif
}

void device_free(Device device, void* ptr) noexcept {
  if (ptr == nullptr) return;
  if (device.is_cpu()) {
    std::free(ptr);
    return;
  }
#ifdef ATTNCAMP_WITH_CUDA
  cuda_free(device.index, ptr);
#endif
}

}  // namespace attncamp
