// CUB's device-wide radix sort and flagged selection for the selection ops (NMS, top-k, sampling),
// with their temporary storage from the caching allocator (a u8 tensor on the device, freed in
// stream order) and every call checked. Both are stable, so equal keys keep their input order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>

#include "runtime/cuda/check.h"
#include "runtime/tensor.h"

namespace attncamp::ops::cuda {

// A u8 device tensor of at least `bytes` bytes (at least one).
inline Tensor cub_temp_storage(size_t bytes, int device) {
  return Tensor::empty({static_cast<int64_t>(std::max<size_t>(bytes, 1))}, DType::kU8, Device::cuda(device));
}

// (keys_out, values_out) = the n pairs sorted by key ascending, stably.
template <class K, class V>
void radix_sort_pairs(const K* keys_in, K* keys_out, const V* values_in, V* values_out, int64_t n, int device,
                      cudaStream_t stream) {
  size_t bytes = 0;
  ATTNCAMP_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys_in, keys_out, values_in, values_out, n, 0,
                                                      static_cast<int>(sizeof(K) * 8), stream));
  Tensor temp = cub_temp_storage(bytes, device);
  ATTNCAMP_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.raw_data(), bytes, keys_in, keys_out, values_in, values_out,
                                                      n, 0, static_cast<int>(sizeof(K) * 8), stream));
}

// out[0, *count) = the in[k] whose flags[k] != 0, in order; *count on the device.
template <class V>
void select_flagged(const V* in, const uint8_t* flags, V* out, int64_t* count, int64_t n, int device,
                    cudaStream_t stream) {
  size_t bytes = 0;
  ATTNCAMP_CUDA_CHECK(cub::DeviceSelect::Flagged(nullptr, bytes, in, flags, out, count, n, stream));
  Tensor temp = cub_temp_storage(bytes, device);
  ATTNCAMP_CUDA_CHECK(cub::DeviceSelect::Flagged(temp.raw_data(), bytes, in, flags, out, count, n, stream));
}

}  // namespace attncamp::ops::cuda
