// CUDA streams and events over the runtime API; destructors log nothing and never throw
// (a failed destroy during teardown cannot be handled usefully).
#include <cuda_runtime.h>

#include "runtime/cuda/check.h"
#include "runtime/cuda_context.h"
#include "runtime/stream.h"

namespace attncamp {

Stream::Stream(int device) : device_(device) {
  ATTNCAMP_CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t s = nullptr;
  ATTNCAMP_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  handle_ = s;
}

Stream::~Stream() {
  if (handle_ != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(handle_));
}

Stream::Stream(Stream&& o) noexcept : handle_(o.handle_), device_(o.device_) { o.handle_ = nullptr; }

Stream& Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    if (handle_ != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(handle_));
    handle_ = o.handle_;
    device_ = o.device_;
    o.handle_ = nullptr;
  }
  return *this;
}

void Stream::synchronize() const { ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(handle_))); }

Event::Event(int device) : device_(device) {
  ATTNCAMP_CUDA_CHECK(cudaSetDevice(device));
  cudaEvent_t e = nullptr;
  ATTNCAMP_CUDA_CHECK(cudaEventCreate(&e));
  handle_ = e;
}

Event::~Event() {
  if (handle_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(handle_));
}

Event::Event(Event&& o) noexcept : handle_(o.handle_), device_(o.device_) { o.handle_ = nullptr; }

Event& Event::operator=(Event&& o) noexcept {
  if (this != &o) {
    if (handle_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(handle_));
    handle_ = o.handle_;
    device_ = o.device_;
    o.handle_ = nullptr;
  }
  return *this;
}

void Event::record(const Stream& s) {
  ATTNCAMP_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(handle_), static_cast<cudaStream_t>(s.handle())));
}

void Event::record_current() {
  ATTNCAMP_CUDA_CHECK(
      cudaEventRecord(static_cast<cudaEvent_t>(handle_), static_cast<cudaStream_t>(current_cuda_stream(device_))));
}

void Event::wait_current() const {
  ATTNCAMP_CUDA_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(current_cuda_stream(device_)),
                                          static_cast<cudaEvent_t>(handle_), 0));
}

void Event::wait(const Stream& s) const {
  ATTNCAMP_CUDA_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(s.handle()), static_cast<cudaEvent_t>(handle_), 0));
}

void Event::synchronize() const { ATTNCAMP_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(handle_))); }

float Event::elapsed_ms_since(const Event& start) const {
  float ms = 0;
  ATTNCAMP_CUDA_CHECK(
      cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start.handle_), static_cast<cudaEvent_t>(handle_)));
  return ms;
}

}  // namespace attncamp
