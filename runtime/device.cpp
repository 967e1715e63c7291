// Device naming and (in CPU-only builds) the CUDA availability answers.
#include "runtime/device.h"

namespace attncamp {

std::string Device::str() const {
  return type == DeviceType::kCPU ? std::string("cpu") : "cuda:" + std::to_string(index);
}

#ifndef ATTNCAMP_WITH_CUDA
bool cuda_compiled() { return false; }
int cuda_device_count() { return 0; }
#endif

}  // namespace attncamp
