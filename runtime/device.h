// Where a tensor's memory lives. CPU is always available; CUDA devices exist
// only in builds with ATTNCAMP_CUDA and on machines with a GPU.
#pragma once

#include <string>

namespace attncamp {

enum class DeviceType { kCPU, kCUDA };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;
  static Device cpu() { return Device{DeviceType::kCPU, 0}; }
  static Device cuda(int i = 0) { return Device{DeviceType::kCUDA, i}; }
  bool is_cpu() const { return type == DeviceType::kCPU; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

// True when this build has CUDA support compiled in.
bool cuda_compiled();
// Number of usable CUDA devices (0 without CUDA support, a driver or a GPU).
int cuda_device_count();

}  // namespace attncamp
