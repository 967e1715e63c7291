// Training-step benchmark on synthetic images (random pixels and labels from
// Philox), so that it measures compute only, without the data pipeline.
#include "launch/bench.h"

#include <chrono>
#include <cstdio>

#include "launch/trainer.h"
#include "models/optimizer.h"
#include "ops/clip_grad.h"
#include "ops/cross_entropy.h"
#include "runtime/rng.h"

namespace attncamp::launch {

BenchResult bench_train(const config::Experiment& e, int64_t steps, int64_t warmup) {
  set_cpu_threads(e.trainer().threads());
  const int64_t classes = e.model().num_classes() > 0 ? e.model().num_classes() : 10;
  models::VisionTransformer model(vit_config_from(e, classes));
  model.initialize(e.trainer().seed());
  models::OptimizerSettings s;
  s.weight_decay = e.optimizer().weight_decay();
  models::Optimizer opt(model.params(), s);
  const int64_t b = e.trainer().batch_size(), hw = e.model().image_size(), c = e.model().in_channels();
  Tensor images = Tensor::empty({b, hw, hw, c}, DType::kU8);
  Tensor labels = Tensor::empty({b}, DType::kI32);
  for (int64_t i = 0; i < images.numel(); ++i) {
    images.data<uint8_t>()[i] = static_cast<uint8_t>(256 * philox_uniform(1, 7, i));
  }
  for (int64_t i = 0; i < b; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>(classes * philox_uniform(2, 7, i));
  Tensor losses = Tensor::empty({b}), dlogits = Tensor::empty({b, classes});
  auto step = [&](int64_t i) {
    model.params().zero_grad();
    const Tensor& logits = model.forward(images, models::ForwardContext{true, 1, i});
    ops::cross_entropy_forward_backward(logits, labels, 0.0, 1.0 / static_cast<double>(b), losses, dlogits);
    model.backward(dlogits);
    ops::clip_grad_norm_(model.params().grads(), 1.0);
    opt.step(1e-4);
  };
  for (int64_t i = 0; i < warmup; ++i) step(i);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step(warmup + i);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  BenchResult r;
  r.ms_per_step = 1e3 * secs / static_cast<double>(steps);
  r.images_per_second = static_cast<double>(b * steps) / secs;
  return r;
}

}  // namespace attncamp::launch
