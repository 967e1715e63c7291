// TFRecord event-file writer with a table-driven CRC32C (polynomial 0x82F63B78).
#include "launch/tensorboard.h"

#include <array>
#include <chrono>
#include <filesystem>

#include "runtime/error.h"
#include "runtime/process.h"
#include "tensorboard.pb.h"

namespace attncamp::launch {

namespace {

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

uint32_t masked_crc(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(const void* data, size_t n) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

EventWriter::EventWriter(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const auto secs = static_cast<long long>(now_seconds());
  path_ = (std::filesystem::path(dir) / ("events.out.tfevents." + std::to_string(secs) + "." + host_name())).string();
  file_ = std::fopen(path_.c_str(), "wb");
  ATTNCAMP_CHECK(file_ != nullptr, "cannot create TensorBoard event file ", path_);
  tensorboard::Event e;
  e.set_wall_time(now_seconds());
  e.set_file_version("brain.Event:2");
  write_record(e.SerializeAsString());
  flush();
}

EventWriter::~EventWriter() {
  if (file_) std::fclose(file_);
}

void EventWriter::scalar(const std::string& tag, int64_t step, double value) {
  tensorboard::Event e;
  e.set_wall_time(now_seconds());
  e.set_step(step);
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  write_record(e.SerializeAsString());
}

void EventWriter::flush() {
  if (file_) std::fflush(file_);
}

void EventWriter::write_record(const std::string& bytes) {
  const uint64_t len = bytes.size();
  unsigned char header[12];
  for (int i = 0; i < 8; ++i) header[i] = static_cast<unsigned char>(len >> (8 * i));
  const uint32_t hcrc = masked_crc(header, 8);
  for (int i = 0; i < 4; ++i) header[8 + i] = static_cast<unsigned char>(hcrc >> (8 * i));
  const uint32_t dcrc = masked_crc(bytes.data(), bytes.size());
  unsigned char footer[4];
  for (int i = 0; i < 4; ++i) footer[i] = static_cast<unsigned char>(dcrc >> (8 * i));
  const bool ok = std::fwrite(header, 1, 12, file_) == 12 &&
                  std::fwrite(bytes.data(), 1, bytes.size(), file_) == bytes.size() &&
                  std::fwrite(footer, 1, 4, file_) == 4;
  ATTNCAMP_CHECK(ok, "cannot write TensorBoard event file ", path_);
}

}  // namespace attncamp::launch
