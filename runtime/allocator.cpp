// CPU allocator (aligned_alloc); CUDA memory comes from the per-device caching allocator
// (runtime/caching_allocator.h) for the calling thread's current stream, so freed blocks are reused
// in stream order.
#include "runtime/allocator.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>

#include "runtime/caching_allocator.h"
#include "runtime/cuda_context.h"
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
  return cuda_caching_allocator(device.index).allocate(bytes, current_cuda_stream(device.index));
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

#ifdef ATTNCAMP_WITH_CUDA
void cuda_copy(void* dst, const void* src, size_t bytes, int device, bool wait);
#endif

namespace {
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes, bool wait) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memmove(dst, src, bytes);
    return;
  }
#ifdef ATTNCAMP_WITH_CUDA
  cuda_copy(dst, src, bytes, dst_device.is_cpu() ? src_device.index : dst_device.index, wait);
#else
  ATTNCAMP_THROW("copy from ", src_device.str(), " to ", dst_device.str(),
                 " needs CUDA, but this build has none (configure with -DATTNCAMP_CUDA=ON)");
#endif
}
}  // namespace

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  copy_bytes(dst, dst_device, src, src_device, bytes, /*wait=*/true);
}

void device_copy_async(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  copy_bytes(dst, dst_device, src, src_device, bytes, /*wait=*/false);
}

#ifndef ATTNCAMP_WITH_CUDA
void* pinned_host_alloc(size_t) {
  ATTNCAMP_THROW("pinned host memory needs CUDA, but this build has none (configure with -DATTNCAMP_CUDA=ON)");
}
void pinned_host_free(void*) noexcept {}
#endif

}  // namespace attncamp
