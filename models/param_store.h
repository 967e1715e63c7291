// ParamStore: every parameter of a model lives in one flat buffer and every
// gradient in another, in registration order. Layers register shapes at
// construction; allocate() creates the buffers and binds each Param's value
// and grad as views, so the optimizer and DDP see one contiguous array.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace attncamp::models {

// How a parameter is initialised (deterministically from the seed and its offset).
// kUniformFanIn: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for nn.Linear weights and biases.
enum class Init { kZeros, kOnes, kNormal02, kTruncNormal02, kXavierUniform, kUniformFanIn };

struct Param {
  std::string name;
  Shape shape;
  int64_t offset = 0;        // in elements, within the flat buffers
  bool weight_decay = true;  // false for biases, norms, tokens and position embeddings
  Init init = Init::kZeros;
  int64_t fan_in = 0;  // for kUniformFanIn (0 = from the shape: numel / shape[0])
  Tensor value;        // view into the flat parameter buffer (after allocate())
  Tensor grad;         // view into the flat gradient buffer (after allocate())
};

class ParamStore {
 public:
  ParamStore() = default;
  ParamStore(const ParamStore&) = delete;
  ParamStore& operator=(const ParamStore&) = delete;

  // Registers a parameter; the returned pointer stays valid for the store's lifetime.
  Param* add(const std::string& name, const Shape& shape, Init init, bool weight_decay, int64_t fan_in = 0);
  // Creates the flat value and gradient buffers (dtype f32 for training, f64 for gradient
  // checks) and binds every Param to its slice. Gradients start at zero.
  void allocate(DType dtype = DType::kF32);
  // Writes every parameter's initial value from `seed` (Philox: same values on any rank).
  void initialize(uint64_t seed);
  void zero_grad();

  bool allocated() const { return values_.defined(); }
  DType dtype() const { return values_.dtype(); }
  int64_t numel() const { return numel_; }
  Tensor& values() { return values_; }
  Tensor& grads() { return grads_; }
  // u8 [numel]: 1 where weight decay applies.
  const Tensor& weight_decay_mask() const { return wd_mask_; }
  const std::vector<std::unique_ptr<Param>>& params() const { return params_; }

 private:
  std::vector<std::unique_ptr<Param>> params_;
  int64_t numel_ = 0;
  Tensor values_, grads_, wd_mask_;
};

// Reallocates `t` as a contiguous CPU tensor of `shape`/`dtype` unless it already is one.
// Layers keep their activation buffers across steps with this.
Tensor& ensure_tensor(Tensor& t, const Shape& shape, DType dtype);

}  // namespace attncamp::models
