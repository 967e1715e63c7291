// Training-step benchmark on synthetic images (random pixels and labels from
// Philox), so that it measures compute only, without the data pipeline.
#include "launch/bench.h"

#include <chrono>
#include <cstdio>

#include "launch/precision.h"
#include "launch/trainer.h"
#include "models/optimizer.h"
#include "ops/clip_grad.h"
#include "ops/cross_entropy.h"
#include "runtime/communicator.h"
#include "runtime/cuda_context.h"
#include "runtime/ddp.h"
#include "runtime/rng.h"

namespace attncamp::launch {

BenchResult bench_train(const config::Experiment& e, int64_t steps, int64_t warmup) {
  set_cpu_threads(e.trainer().threads());
  const int64_t classes = e.model().num_classes() > 0 ? e.model().num_classes() : 10;
  Precision prec = precision_from(e, "config");
  const std::unique_ptr<Communicator> comm = make_communicator(prec.device);
  if (!prec.device.is_cpu() && comm->size() > 1) prec.device = Device::cuda(comm->local_rank());
  const auto model_ptr = make_model(e, classes, prec);
  models::VisionTransformer& model = *model_ptr;
  model.initialize(e.trainer().seed());
  std::vector<ParamRange> ranges;
  for (const auto& p : model.params().params()) ranges.push_back(ParamRange{p->offset, shape_numel(p->shape)});
  GradientReducer reducer(*comm, model.params().grads(), ranges,
                          e.trainer().bucket_mb() > 0 ? e.trainer().bucket_mb() : 25);
  model.params().set_grad_ready_hook([&reducer](int i) { reducer.mark_ready(i); });
  double wait = 0;
  models::OptimizerSettings s;
  s.weight_decay = e.optimizer().weight_decay();
  models::Optimizer opt(model.params(), s);
  const int64_t b = e.trainer().batch_size(), hw = e.model().image_size(), c = e.model().in_channels();
  Tensor host_images = Tensor::empty({b, hw, hw, c}, DType::kU8);
  Tensor host_labels = Tensor::empty({b}, DType::kI32);
  for (int64_t i = 0; i < host_images.numel(); ++i) {
    host_images.data<uint8_t>()[i] = static_cast<uint8_t>(256 * philox_uniform(1, 7, i));
  }
  for (int64_t i = 0; i < b; ++i) {
    host_labels.data<int32_t>()[i] = static_cast<int32_t>(classes * philox_uniform(2, 7, i));
  }
  const Tensor images = host_images.to(prec.device), labels = host_labels.to(prec.device);
  Tensor losses = Tensor::empty({b}, DType::kF32, prec.device);
  Tensor dlogits = Tensor::empty({b, classes}, prec.compute, prec.device);
  auto step = [&](int64_t i) {
    model.params().zero_grad();
    const Tensor& logits = model.forward(images, models::ForwardContext{true, 1, i});
    ops::cross_entropy_forward_backward(logits, labels, 0.0, 1.0 / static_cast<double>(b), losses, dlogits);
    model.backward(dlogits);
    const double w = reducer.finish();
    if (i >= warmup) wait += w;
    ops::clip_grad_norm_(model.params().grads(), 1.0);
    opt.step(1e-4);
  };
  for (int64_t i = 0; i < warmup; ++i) step(i);
  comm->barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step(warmup + i);
  if (!prec.device.is_cpu()) cuda_synchronize(prec.device.index);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  comm->barrier();
  BenchResult r;
  r.world = comm->size();
  r.ms_per_step = 1e3 * secs / static_cast<double>(steps);
  r.images_per_second = static_cast<double>(b * steps * r.world) / secs;
  r.comm_wait_fraction = wait / secs;
  return r;
}

void bench_allreduce(const std::string& device_text, const std::string& backend, int64_t max_bytes, int iters) {
  const Device device = parse_device(device_text, "--device");
  std::unique_ptr<Communicator> comm;
  if (backend == "auto") {
    comm = make_communicator(device);
  } else if (backend == "single") {
    comm = make_single_communicator();
  } else if (backend == "mpi") {
    comm = make_mpi_communicator();
  } else if (backend == "nccl") {
    comm = make_nccl_communicator(-1);
  } else {
    ATTNCAMP_THROW("--backend must be auto, single, mpi or nccl (got \"", backend, "\")");
  }
  const Device dev = device.is_cpu() || comm->size() == 1 ? device : Device::cuda(comm->local_rank());
  const int p = comm->size();
  if (comm->rank() == 0) {
    std::printf("# all_reduce sum f32, backend %s, %d rank(s), device %s\n", comm->backend().c_str(), p,
                dev.str().c_str());
    std::printf("%12s %12s %6s %12s %10s %10s\n", "size(B)", "count", "type", "time(us)", "algbw(GB/s)", "busbw(GB/s)");
  }
  for (int64_t bytes = 8; bytes <= max_bytes; bytes *= 2) {
    const int64_t count = bytes / 4;
    Tensor x = Tensor::zeros({count}, DType::kF32, dev);
    const int n = bytes <= (1 << 20) ? iters * 4 : iters;
    for (int i = 0; i < 3; ++i) comm->all_reduce(x, ReduceOp::kSum)->wait();
    comm->barrier();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) comm->all_reduce(x, ReduceOp::kSum)->wait();
    if (!dev.is_cpu()) cuda_synchronize(dev.index);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / n;
    const double algbw = static_cast<double>(bytes) / secs / 1e9;
    const double busbw = p > 1 ? algbw * 2.0 * (p - 1) / p : 0;
    if (comm->rank() == 0) {
      std::printf("%12ld %12ld %6s %12.1f %10.3f %10.3f\n", static_cast<long>(bytes), static_cast<long>(count), "f32",
                  secs * 1e6, algbw, busbw);
    }
  }
}

}  // namespace attncamp::launch
