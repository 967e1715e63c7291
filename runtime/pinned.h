// Page-locked (pinned) host memory for asynchronous uploads: the input pipeline fills a
// PinnedBuffer and copies it to the GPU on a side stream while the previous step computes.
// RAII, non-copyable, movable; destructor never throws. Without CUDA, constructing one throws.
#pragma once

#include <cstddef>

#include "runtime/tensor.h"

namespace attncamp {

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  // `bytes` of pinned host memory (cudaHostAlloc). Throws without CUDA or a driver.
  explicit PinnedBuffer(size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

  // Queues a copy of the first dst.nbytes() bytes of this buffer into the contiguous CUDA tensor
  // `dst` on the calling thread's current stream of dst's device; returns without waiting.
  // The buffer must not be rewritten before that stream has passed the copy.
  void upload_async(Tensor& dst) const;

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace attncamp
