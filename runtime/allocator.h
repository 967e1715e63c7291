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

}  // namespace attncamp
