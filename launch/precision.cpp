// Device and precision selection, and the dynamic loss scaler.
#include "launch/precision.h"

#include <cmath>

#include "ops/clip_grad.h"
#include "ops/elementwise.h"

namespace attncamp::launch {

Device parse_device(const std::string& text, const std::string& source) {
  if (text.empty() || text == "cpu") return Device::cpu();
  int index = 0;
  if (text != "cuda") {
    size_t used = 0;
    bool ok = text.rfind("cuda:", 0) == 0 && text.size() > 5;
    if (ok) {
      try {
        index = std::stoi(text.substr(5), &used);
      } catch (const std::exception&) {
        ok = false;
      }
      ok = ok && used == text.size() - 5 && index >= 0;
    }
    ATTNCAMP_CHECK(ok, source, ": field trainer.device: must be \"cpu\", \"cuda\" or \"cuda:N\" (got \"", text, "\")");
  }
  ATTNCAMP_CHECK(cuda_compiled(), source, ": field trainer.device: \"", text,
                 "\" needs CUDA, but this build has none (configure with -DATTNCAMP_CUDA=ON on a machine with nvcc)");
  const int count = cuda_device_count();
  ATTNCAMP_CHECK(index < count, source, ": field trainer.device: \"", text, "\" asked for, but ", count,
                 " CUDA device(s) are visible on this machine");
  return Device::cuda(index);
}

Precision precision_from(const config::Experiment& e, const std::string& source) {
  Precision p;
  p.device = parse_device(e.trainer().device(), source);
  std::string name = e.trainer().precision();
  if (name.empty()) name = p.device.is_cpu() ? "fp32" : "bf16";
  p.name = name;
  if (name == "fp32") {
    p.compute = DType::kF32;
  } else if (name == "bf16" || name == "fp16") {
    ATTNCAMP_CHECK(!p.device.is_cpu(), source, ": field trainer.precision: \"", name,
                   "\" needs trainer.device \"cuda\" (the CPU kernels compute in fp32)");
    p.compute = name == "bf16" ? DType::kBF16 : DType::kF16;
  } else {
    ATTNCAMP_THROW(source, ": field trainer.precision: must be \"fp32\", \"bf16\" or \"fp16\" (got \"", name, "\")");
  }
  return p;
}

LossScaler::LossScaler(bool enabled, double initial, int64_t growth_interval)
    : enabled_(enabled), scale_(initial), growth_interval_(growth_interval) {}

bool LossScaler::unscale_and_check(Tensor& grads) {
  if (!enabled_) return true;
  const double norm = ops::global_norm(grads);
  if (!std::isfinite(norm)) {
    scale_ = std::max(1.0, scale_ / 2);
    good_steps_ = 0;
    ++skipped_;
    return false;
  }
  ops::scale_(grads, 1.0 / scale_);
  if (++good_steps_ >= growth_interval_) {
    scale_ *= 2;
    good_steps_ = 0;
  }
  return true;
}

}  // namespace attncamp::launch
