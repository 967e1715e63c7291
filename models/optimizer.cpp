// Optimizer: dispatches to ops::adamw_step / ops::sgd_step over the flat buffers.
#include "models/optimizer.h"

#include "ops/optimizer.h"

namespace attncamp::models {

Optimizer::Optimizer(ParamStore& store, const OptimizerSettings& settings) : store_(store), s_(settings) {
  ATTNCAMP_CHECK(store.allocated(), "optimizer created before the parameters were allocated");
  m_ = Tensor::zeros({store.numel()}, store.dtype(), store.device());
  if (s_.kind == OptimizerSettings::Kind::kAdamW) v_ = Tensor::zeros({store.numel()}, store.dtype(), store.device());
}

void Optimizer::step(double lr) {
  ++steps_;
  if (s_.kind == OptimizerSettings::Kind::kAdamW) {
    ops::AdamWParams p;
    p.lr = lr;
    p.beta1 = s_.beta1;
    p.beta2 = s_.beta2;
    p.eps = s_.eps;
    p.weight_decay = s_.weight_decay;
    p.step = steps_;
    ops::adamw_step(store_.values(), store_.grads(), m_, v_, store_.weight_decay_mask(), p, store_.compute_copy());
  } else {
    ops::SgdParams p;
    p.lr = lr;
    p.momentum = s_.momentum;
    p.weight_decay = s_.weight_decay;
    p.nesterov = s_.nesterov;
    ops::sgd_step(store_.values(), store_.grads(), m_, store_.weight_decay_mask(), p, steps_ == 1,
                  store_.compute_copy());
  }
}

std::map<std::string, Tensor> Optimizer::state() const {
  if (s_.kind == OptimizerSettings::Kind::kAdamW) return {{"m", m_}, {"v", v_}};
  return {{"momentum", m_}};
}

void Optimizer::load_state(const std::map<std::string, Tensor>& state, int64_t steps, const std::string& source) {
  for (auto& [name, dst] : this->state()) {
    auto it = state.find(name);
    ATTNCAMP_CHECK(it != state.end(), source, ": optimizer state '", name, "' missing");
    ATTNCAMP_CHECK(it->second.shape() == dst.shape() && it->second.dtype() == dst.dtype(), source,
                   ": optimizer state '", name, "' has shape ", shape_str(it->second.shape()), ", expected ",
                   shape_str(dst.shape()));
    Tensor d = dst;
    d.copy_from(it->second);
  }
  steps_ = steps;
}

}  // namespace attncamp::models
