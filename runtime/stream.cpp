// Stream/Event stubs for builds without CUDA: constructing one explains that
// this build has no CUDA support. The CUDA build uses runtime/cuda/stream.cu.
#include "runtime/stream.h"

#include "runtime/error.h"

#ifndef ATTNCAMP_WITH_CUDA
namespace attncamp {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  ATTNCAMP_THROW(what,
                 " needs CUDA, but this build has none (configure with -DATTNCAMP_CUDA=ON on a machine with nvcc)");
}
}  // namespace

Stream::Stream(int device) : device_(device) { no_cuda("a CUDA stream"); }
Stream::~Stream() = default;
Stream::Stream(Stream&& o) noexcept : handle_(o.handle_), device_(o.device_) { o.handle_ = nullptr; }
Stream& Stream::operator=(Stream&& o) noexcept {
  handle_ = o.handle_;
  device_ = o.device_;
  o.handle_ = nullptr;
  return *this;
}
void Stream::synchronize() const {}

Event::Event(int device) : device_(device) { no_cuda("a CUDA event"); }
Event::~Event() = default;
Event::Event(Event&& o) noexcept : handle_(o.handle_), device_(o.device_) { o.handle_ = nullptr; }
Event& Event::operator=(Event&& o) noexcept {
  handle_ = o.handle_;
  device_ = o.device_;
  o.handle_ = nullptr;
  return *this;
}
void Event::record(const Stream&) {}
void Event::record_current() {}
void Event::wait(const Stream&) const {}
void Event::wait_current() const {}
void Event::synchronize() const {}
float Event::elapsed_ms_since(const Event&) const { return 0; }

}  // namespace attncamp
#endif
