// PinnedBuffer stubs for builds without CUDA (the CUDA build uses runtime/cuda/pinned.cu).
#include "runtime/pinned.h"

#ifndef ATTNCAMP_WITH_CUDA
namespace attncamp {

PinnedBuffer::PinnedBuffer(size_t) {
  ATTNCAMP_THROW("pinned host memory needs CUDA, but this build has none (configure with -DATTNCAMP_CUDA=ON)");
}
PinnedBuffer::~PinnedBuffer() = default;
PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) {
  o.data_ = nullptr;
  o.bytes_ = 0;
}
PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  data_ = o.data_;
  bytes_ = o.bytes_;
  o.data_ = nullptr;
  o.bytes_ = 0;
  return *this;
}
void PinnedBuffer::upload_async(Tensor&) const { ATTNCAMP_THROW("upload_async needs CUDA"); }

}  // namespace attncamp
#endif
