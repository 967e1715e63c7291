// Thread-local current streams (a small fixed table: device ids are small integers).
#include "runtime/cuda_context.h"

#include "runtime/error.h"

namespace attncamp {
namespace {

constexpr int kMaxDevices = 64;
thread_local void* t_current[kMaxDevices] = {};

int checked_device(int device) {
  ATTNCAMP_CHECK(device >= 0 && device < kMaxDevices, "CUDA device index ", device, " is out of range [0, ",
                 kMaxDevices, ")");
  return device;
}

}  // namespace

void* current_cuda_stream(int device) { return t_current[checked_device(device)]; }

CudaStreamGuard::CudaStreamGuard(const Stream& stream)
    : device_(checked_device(stream.device())), previous_(t_current[device_]) {
  t_current[device_] = stream.handle();
}

CudaStreamGuard::~CudaStreamGuard() { t_current[device_] = previous_; }

#ifndef ATTNCAMP_WITH_CUDA
void cuda_synchronize(int) {
  ATTNCAMP_THROW("cuda_synchronize needs CUDA, but this build has none (configure with -DATTNCAMP_CUDA=ON)");
}
#endif

}  // namespace attncamp
