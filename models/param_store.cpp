// ParamStore implementation: flat buffer allocation, binding and Philox initialisation.
#include "models/param_store.h"

#include <cmath>
#include <cstring>

#include "ops/cast.h"
#include "runtime/rng.h"

namespace attncamp::models {

Param* ParamStore::add(const std::string& name, const Shape& shape, Init init, bool weight_decay, int64_t fan_in) {
  ATTNCAMP_CHECK(!allocated(), "parameter ", name, " registered after allocate()");
  auto p = std::make_unique<Param>();
  p->name = name;
  p->index = static_cast<int>(params_.size());
  p->owner = this;
  p->shape = shape;
  p->offset = numel_;
  p->weight_decay = weight_decay;
  p->init = init;
  p->fan_in = fan_in;
  numel_ += shape_numel(shape);
  params_.push_back(std::move(p));
  return params_.back().get();
}

int ParamStore::add_dropout_site() {
  ATTNCAMP_CHECK(dropout_sites_ < kMaxDropoutSites, "a model may have at most ", kMaxDropoutSites, " dropout sites");
  return dropout_sites_++;
}

void ParamStore::allocate(DType dtype, Device device, DType compute_dtype) {
  ATTNCAMP_CHECK(dtype == DType::kF32 || dtype == DType::kF64, "parameters must be f32 or f64");
  ATTNCAMP_CHECK(compute_dtype == dtype || compute_dtype == DType::kF32 || compute_dtype == DType::kBF16 ||
                     compute_dtype == DType::kF16,
                 "compute dtype ", dtype_name(compute_dtype), " must be f32, bf16 or f16");
  if (compute_dtype == DType::kF32) compute_dtype = dtype;  // f32 (the default): no compute copy
  values_ = Tensor::zeros({numel_}, dtype, device);
  grads_ = Tensor::zeros({numel_}, dtype, device);
  if (compute_dtype != dtype) compute_ = Tensor::zeros({numel_}, compute_dtype, device);
  Tensor mask = Tensor::zeros({numel_}, DType::kU8);
  for (auto& p : params_) {
    const int64_t n = shape_numel(p->shape);
    p->value = values_.slice(p->offset, p->offset + n).view(p->shape);
    p->grad = grads_.slice(p->offset, p->offset + n).view(p->shape);
    p->compute = compute_.defined() ? compute_.slice(p->offset, p->offset + n).view(p->shape) : p->value;
    if (p->weight_decay) std::memset(mask.data<uint8_t>() + p->offset, 1, static_cast<size_t>(n));
  }
  wd_mask_ = device.is_cpu() ? mask : mask.to(device);
}

void ParamStore::sync_compute() {
  if (compute_.defined()) ops::cast(values_, compute_);
}

void ParamStore::initialize(uint64_t seed) {
  ATTNCAMP_CHECK(allocated(), "initialize() before allocate()");
  Tensor host = Tensor::empty({numel_}, values_.dtype());
  const uint64_t stream = static_cast<uint64_t>(RngStream::kInit);
  for (auto& p : params_) {
    const int64_t n = shape_numel(p->shape);
    const int64_t fan_out = p->shape.empty() ? 1 : p->shape[0];
    const int64_t fan_in = p->shape.size() >= 2 ? n / fan_out : n;
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t idx = static_cast<uint64_t>(p->offset + i);
      double v = 0;
      switch (p->init) {
        case Init::kZeros: v = 0; break;
        case Init::kOnes: v = 1; break;
        case Init::kNormal02: v = 0.02 * philox_normal(seed, stream, idx); break;
        case Init::kTruncNormal02: {
          // Resample outside 2 sigma (timm's trunc_normal_(std=.02)): deterministic retries.
          double z = philox_normal(seed, stream, idx);
          for (uint64_t r = 1; std::fabs(z) > 2.0; ++r) z = philox_normal(seed, stream + (r << 8), idx);
          v = 0.02 * z;
          break;
        }
        case Init::kXavierUniform: {
          const double a = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
          v = a * (2.0 * philox_uniform(seed, stream, idx) - 1.0);
          break;
        }
        case Init::kUniformFanIn: {
          const double a = 1.0 / std::sqrt(static_cast<double>(p->fan_in > 0 ? p->fan_in : fan_in));
          v = a * (2.0 * philox_uniform(seed, stream, idx) - 1.0);
          break;
        }
      }
      if (host.dtype() == DType::kF32) {
        host.data<float>()[p->offset + i] = static_cast<float>(v);
      } else {
        host.data<double>()[p->offset + i] = v;
      }
    }
  }
  values_.copy_from(host);
  sync_compute();
}

void ParamStore::zero_grad() {
  if (grads_.defined()) grads_.fill(0);
}

Tensor& ensure_tensor(Tensor& t, const Shape& shape, DType dtype, Device device) {
  if (!t.defined() || t.shape() != shape || t.dtype() != dtype || t.device() != device || !t.is_contiguous()) {
    t = Tensor::empty(shape, dtype, device);
  }
  return t;
}

}  // namespace attncamp::models
