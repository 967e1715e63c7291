// RAII CUDA streams and events (non-copyable, movable; destructors never throw).
// Declared in every build so code can name them; in builds without CUDA, or
// on machines without a GPU, creating one throws a clear attncamp::Error.
#pragma once

#include <cstdint>

namespace attncamp {

class Stream {
 public:
  // Creates a non-blocking stream on CUDA device `device`.
  explicit Stream(int device = 0);
  ~Stream();
  Stream(Stream&& o) noexcept;
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  // The underlying cudaStream_t, as an opaque pointer.
  void* handle() const { return handle_; }
  int device() const { return device_; }
  // Blocks until all work queued on the stream is done.
  void synchronize() const;

 private:
  void* handle_ = nullptr;
  int device_ = 0;
};

class Event {
 public:
  explicit Event(int device = 0);
  ~Event();
  Event(Event&& o) noexcept;
  Event& operator=(Event&& o) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(const Stream& s);
  // Records on the calling thread's current stream of the event's device (runtime/cuda_context.h).
  void record_current();
  // Makes `s` wait for this event (no host blocking).
  void wait(const Stream& s) const;
  // Makes the calling thread's current stream of the event's device wait for this event.
  void wait_current() const;
  void synchronize() const;
  // Milliseconds between two recorded events (`start` before this one).
  float elapsed_ms_since(const Event& start) const;

 private:
  void* handle_ = nullptr;
  int device_ = 0;
};

}  // namespace attncamp
