// ParamStore: every parameter of a model lives in one flat buffer and every
// gradient in another, in registration order. Layers register shapes at
// construction; allocate() creates the buffers and binds each Param's value
// and grad as views, so the optimizer and DDP see one contiguous array.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/context.h"
#include "runtime/tensor.h"

namespace attncamp::models {

// How a parameter is initialised (deterministically from the seed and its offset).
// kUniformFanIn: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for nn.Linear weights and biases.
enum class Init { kZeros, kOnes, kNormal02, kTruncNormal02, kXavierUniform, kUniformFanIn };

class ParamStore;

struct Param {
  std::string name;
  int index = 0;                // registration order
  ParamStore* owner = nullptr;  // the store it was registered with
  Shape shape;
  int64_t offset = 0;        // in elements, within the flat buffers
  bool weight_decay = true;  // false for biases, norms, tokens and position embeddings
  Init init = Init::kZeros;
  int64_t fan_in = 0;  // for kUniformFanIn (0 = from the shape: numel / shape[0])
  Tensor value;        // view into the flat parameter buffer (after allocate())
  Tensor grad;         // view into the flat gradient buffer (after allocate())
  Tensor compute;      // the value in the compute dtype: a view into the compute copy in mixed
                       // precision (refreshed by sync_compute()), otherwise the same view as `value`
};

class ParamStore {
 public:
  ParamStore() = default;
  ParamStore(const ParamStore&) = delete;
  ParamStore& operator=(const ParamStore&) = delete;

  // Registers a parameter; the returned pointer stays valid for the store's lifetime.
  Param* add(const std::string& name, const Shape& shape, Init init, bool weight_decay, int64_t fan_in = 0);
  // Hands out the next dropout site of the model (0, 1, 2, ... in the order layers ask), so each
  // Dropout of a model draws its own Philox masks (models/context.h dropout_offset). At most
  // kMaxDropoutSites per model.
  int add_dropout_site();
  int dropout_sites() const { return dropout_sites_; }
  // Creates the flat value and gradient buffers on `device` (dtype f32 for training, f64 for
  // gradient checks) and binds every Param to its slice. Gradients start at zero. A
  // `compute_dtype` of bf16 or f16 (mixed precision; f32 means "as dtype") adds a flat compute copy
  // of the values in that dtype, which the GEMMs read; values, gradients and optimizer state
  // stay in `dtype` (the master weights).
  void allocate(DType dtype = DType::kF32, Device device = Device::cpu(), DType compute_dtype = DType::kF32);
  // Writes every parameter's initial value from `seed` (Philox: same values on any rank and
  // device: computed on the host, then copied).
  void initialize(uint64_t seed);
  void zero_grad();
  // Refreshes the compute copy from the master values (no-op without one). Call after every
  // change of values(): optimizer steps, loading a checkpoint, broadcasts.
  void sync_compute();
  // The flat compute copy, or nullptr without mixed precision (optimizers write it in the same
  // pass as the update).
  Tensor* compute_copy() { return compute_.defined() ? &compute_ : nullptr; }

  // Called by layers when backward has written a parameter's gradient for this step; forwards
  // the parameter index to the hook (data-parallel training starts bucket all-reduces from it).
  void grad_ready(const Param* p) const {
    if (p != nullptr && grad_ready_hook_) grad_ready_hook_(p->index);
  }
  void set_grad_ready_hook(std::function<void(int)> hook) { grad_ready_hook_ = std::move(hook); }

  bool allocated() const { return values_.defined(); }
  DType dtype() const { return values_.dtype(); }
  Device device() const { return values_.device(); }
  // Dtype of the activations and of Param::compute (== dtype() without mixed precision).
  DType compute_dtype() const { return compute_.defined() ? compute_.dtype() : values_.dtype(); }
  int64_t numel() const { return numel_; }
  Tensor& values() { return values_; }
  Tensor& grads() { return grads_; }
  // u8 [numel]: 1 where weight decay applies.
  const Tensor& weight_decay_mask() const { return wd_mask_; }
  const std::vector<std::unique_ptr<Param>>& params() const { return params_; }

 private:
  std::vector<std::unique_ptr<Param>> params_;
  int64_t numel_ = 0;
  int dropout_sites_ = 0;
  Tensor values_, grads_, wd_mask_, compute_;
  std::function<void(int)> grad_ready_hook_;
};

// Tells p's store that backward has written p's gradient (no-op for nullptr).
inline void grad_ready(const Param* p) {
  if (p != nullptr) p->owner->grad_ready(p);
}

// Reallocates `t` as a contiguous tensor of `shape`/`dtype` on `device` unless it already is
// one. Layers keep their activation buffers across steps with this.
Tensor& ensure_tensor(Tensor& t, const Shape& shape, DType dtype, Device device = Device::cpu());
// Same, with the dtype and device of `like`.
inline Tensor& ensure_like(Tensor& t, const Shape& shape, const Tensor& like) {
  return ensure_tensor(t, shape, like.dtype(), like.device());
}
// Dtype of per-row statistics (LayerNorm mean/rstd, attention log-sum-exp) for activations `x`:
// x's dtype on the CPU, f32 on CUDA (where activations may be bf16/f16).
inline DType stat_dtype(const Tensor& x) { return x.device().is_cpu() ? x.dtype() : DType::kF32; }

}  // namespace attncamp::models
