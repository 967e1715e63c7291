// Memory allocation for tensors. CPU memory is 64-byte aligned so kernels can
// use aligned vector loads; allocation failures throw attncamp::Error.
#pragma once

#include <cstddef>

#include "runtime/device.h"

namespace attncamp {

constexpr size_t kCpuAlignment = 64;

// Allocates `bytes` on `device` (at least one byte). Throws on failure.
void* device_alloc(Device device, size_t bytes);
// Frees memory from device_alloc. Never throws.
void device_free(Device device, void* ptr) noexcept;
// Copies `bytes` from `src` on `src_device` to `dst` on `dst_device` (host or CUDA, any
// direction; synchronous). Throws when a CUDA device is involved in a build without CUDA.
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
// Like device_copy, but only queued on the calling thread's current stream of the CUDA side
// (host-to-host copies happen at once). The caller keeps both buffers alive and unchanged until
// that stream has passed the copy; it is truly asynchronous only for pinned host memory.
void device_copy_async(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

// Page-locked host memory (cudaHostAlloc, at least one byte) for uploads that overlap with
// compute. Throws in builds without CUDA or on machines without a driver.
void* pinned_host_alloc(size_t bytes);
// Frees memory from pinned_host_alloc. Never throws.
void pinned_host_free(void* ptr) noexcept;

}  // namespace attncamp
