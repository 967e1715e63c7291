// ParamStore implementation: flat buffer allocation, binding and Philox initialisation.
#include "models/param_store.h"

#include <cmath>
#include <cstring>

#include "runtime/rng.h"

namespace attncamp::models {

Param* ParamStore::add(const std::string& name, const Shape& shape, Init init, bool weight_decay, int64_t fan_in) {
  ATTNCAMP_CHECK(!allocated(), "parameter ", name, " registered after allocate()");
  auto p = std::make_unique<Param>();
  p->name = name;
  p->shape = shape;
  p->offset = numel_;
  p->weight_decay = weight_decay;
  p->init = init;
  p->fan_in = fan_in;
  numel_ += shape_numel(shape);
  params_.push_back(std::move(p));
  return params_.back().get();
}

void ParamStore::allocate(DType dtype) {
  ATTNCAMP_CHECK(dtype == DType::kF32 || dtype == DType::kF64, "parameters must be f32 or f64");
  values_ = Tensor::zeros({numel_}, dtype);
  grads_ = Tensor::zeros({numel_}, dtype);
  wd_mask_ = Tensor::zeros({numel_}, DType::kU8);
  for (auto& p : params_) {
    const int64_t n = shape_numel(p->shape);
    p->value = values_.slice(p->offset, p->offset + n).view(p->shape);
    p->grad = grads_.slice(p->offset, p->offset + n).view(p->shape);
    if (p->weight_decay) std::memset(wd_mask_.data<uint8_t>() + p->offset, 1, static_cast<size_t>(n));
  }
}

void ParamStore::initialize(uint64_t seed) {
  ATTNCAMP_CHECK(allocated(), "initialize() before allocate()");
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
      if (values_.dtype() == DType::kF32) {
        p->value.data<float>()[i] = static_cast<float>(v);
      } else {
        p->value.data<double>()[i] = v;
      }
    }
  }
}

void ParamStore::zero_grad() {
  if (grads_.defined()) std::memset(grads_.raw_data(), 0, grads_.nbytes());
}

Tensor& ensure_tensor(Tensor& t, const Shape& shape, DType dtype) {
  if (!t.defined() || t.shape() != shape || t.dtype() != dtype || !t.is_contiguous()) {
    t = Tensor::empty(shape, dtype);
  }
  return t;
}

}  // namespace attncamp::models
