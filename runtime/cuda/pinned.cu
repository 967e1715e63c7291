// Pinned host buffers over cudaHostAlloc / cudaFreeHost, uploads with cudaMemcpyAsync.
#include <cuda_runtime.h>

#include "runtime/cuda/check.h"
#include "runtime/cuda/launch.h"
#include "runtime/pinned.h"

namespace attncamp {

PinnedBuffer::PinnedBuffer(size_t bytes) : bytes_(bytes) {
  ATTNCAMP_CUDA_CHECK(cudaHostAlloc(&data_, bytes == 0 ? 1 : bytes, cudaHostAllocDefault));
}

PinnedBuffer::~PinnedBuffer() {
  if (data_ != nullptr && cudaFreeHost(data_) != cudaSuccess) cudaGetLastError();
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) {
  o.data_ = nullptr;
  o.bytes_ = 0;
}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr && cudaFreeHost(data_) != cudaSuccess) cudaGetLastError();
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void PinnedBuffer::upload_async(Tensor& dst) const {
  ATTNCAMP_CHECK(!dst.device().is_cpu(), "upload_async: destination must be a CUDA tensor, got ", dst.device().str());
  ATTNCAMP_CHECK(dst.is_contiguous(), "upload_async: destination must be contiguous");
  ATTNCAMP_CHECK(dst.nbytes() <= bytes_, "upload_async: destination needs ", dst.nbytes(),
                 " bytes but the pinned buffer holds ", bytes_);
  cudaStream_t s = cuda::launch_stream(dst.device().index);
  ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), data_, dst.nbytes(), cudaMemcpyHostToDevice, s));
}

}  // namespace attncamp
