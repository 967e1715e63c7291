// CUDA parity test helpers (see cuda_test_util.h).
#include "tests/cuda_test_util.h"

#include "runtime/device.h"
#include "tests/test_util.h"

namespace attncamp::test {

std::string gpu_unavailable_reason() {
  if (!cuda_compiled()) return "this build has no CUDA support (ATTNCAMP_CUDA=OFF or no nvcc)";
  if (cuda_device_count() == 0) return "no CUDA device on this machine";
  return "";
}

Tensor to_gpu(const Tensor& t, DType dtype) { return to_dtype(t.to(Device::cpu()), dtype).to(Device::cuda(0)); }

Tensor to_host_f64(const Tensor& t) { return to_dtype(t.to(Device::cpu()), DType::kF64); }

Tensor round_through(const Tensor& t, DType dtype) { return to_dtype(to_dtype(t, dtype), DType::kF64); }

double lowp_tolerance(const Tensor& ref64, const Tensor& ref_lowp, double eps) {
  return 2.0 * max_abs_diff(ref64, ref_lowp) + eps;
}

}  // namespace attncamp::test
