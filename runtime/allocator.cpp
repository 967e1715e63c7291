// CPU allocator (aligned_alloc); CUDA memory comes from the per-device caching allocator
// (runtime/caching_allocator.h) on the default stream, so freed blocks are reused.
#include "runtime/allocator.h"

#include <cstdlib>
#include <exception>
#include <iostream>

#include "runtime/caching_allocator.h"
#include "runtime/error.h"

namespace attncamp {

void* device_alloc(Device device, size_t bytes) {
  if (device.is_cpu()) {
    size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    if (rounded == 0) rounded = kCpuAlignment;
    void* p = std::aligned_alloc(kCpuAlignment, rounded);
    ATTNCAMP_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
    return p;
  }
#ifdef ATTNCAMP_WITH_CUDA
  return cuda_caching_allocator(device.index).allocate(bytes, nullptr);
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
  try {
    cuda_caching_allocator(device.index).free(ptr);
  } catch (const std::exception& e) {
    std::cerr << "attncamp: device_free(" << device.str() << ") failed: " << e.what() << "\n";
  }
#endif
}

}  // namespace attncamp
