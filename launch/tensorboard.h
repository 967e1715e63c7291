// TensorBoard scalar logs: writes events.out.tfevents.<time>.<host> files in
// TFRecord framing (length, masked CRC32C, Event protobuf, masked CRC32C), so
// `tensorboard --logdir runs/` shows loss, learning rate and accuracy curves.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace attncamp::launch {

// CRC32C (Castagnoli) of `n` bytes, as TFRecord uses it.
uint32_t crc32c(const void* data, size_t n);

class EventWriter {
 public:
  // Creates `dir` if needed and opens a new event file in it.
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  void scalar(const std::string& tag, int64_t step, double value);
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& bytes);
  std::string path_;
  FILE* file_ = nullptr;
};

}  // namespace attncamp::launch
