// TrainingRun::bench, behind `attncamp bench train`: the training run's own setup (task, model,
// DDP reducer, optimizer) and step (train_step), timed over one global batch of the task's
// training samples that is fed again every step, so the input pipeline costs what an ideal
// loader's would (on a GPU: an upload from page-locked memory on the side stream per step).
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "data/sampler.h"
#include "launch/trainer_internal.h"
#include "runtime/cuda_context.h"

namespace attncamp::launch {

namespace {

// A copy of `t` that no pool will reuse: page-locked for a GPU's uploads.
Tensor keep(const Tensor& t, Device device) {
  if (!t.defined()) return t;
  Tensor out = device.is_cpu() ? Tensor::empty(t.shape(), t.dtype()) : Tensor::empty_pinned(t.shape(), t.dtype());
  out.copy_from(t);
  return out;
}

}  // namespace

BenchResult TrainingRun::bench(int64_t steps, int64_t warmup, Communicator* given_comm) {
  connect(given_comm);
  task_ = make_task(e_, prec_);
  build_model();
  n_ = plan_.global_batch;
  ATTNCAMP_CHECK(task_->train_size() >= n_, task_->train_source(), ": has ", task_->train_size(),
                 " training samples, fewer than the global batch of ", n_);
  steps_per_epoch_ = 1;
  epochs_ = 1;
  last_step_ = warmup + steps;
  sched_.base_lr = e_.optimizer().lr();
  sched_.min_lr = sched_.base_lr;
  sched_.total_steps = last_step_;
  sched_.cosine = false;
  progress_ = std::make_unique<Progress>(last_step_, 0, 0, false);
  pool_ = host_pool(Device::cpu());

  // This rank's micro-batches of the first global batch, gathered on the host once.
  std::vector<std::vector<int64_t>> mine = data::rank_batches(n_, e_.trainer().seed(), 0, plan_.global_batch,
                                                              comm_->size(), comm_->rank(), plan_.accumulation);
  std::vector<data::Batch> micro;
  {
    EpochInput host = task_->open_training(std::move(mine), 0, Device::cpu(), pool_);
    data::Batch b;
    while (host.feeder->next(b)) {
      data::Batch k = b;
      k.host.reset();
      k.for_each_tensor([this](const char*, Tensor& t) { t = keep(t, prec_.device); });
      micro.push_back(std::move(k));
    }
  }
  size_t next = 0;
  const size_t total = micro.size() * static_cast<size_t>(last_step_);
  EpochInput input;
  input.feeder = std::make_unique<data::DeviceFeeder>(prec_.device, [&micro, &next, total](data::Batch& b) {
    if (next >= total) return false;
    b = micro[next++ % micro.size()];
    return true;
  });

  EpochLoss loss;
  for (int64_t i = 0; i < warmup; ++i) train_step(input, loss);
  comm_->barrier();
  wait_seconds_ = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) train_step(input, loss);
  if (!prec_.device.is_cpu()) cuda_synchronize(prec_.device.index);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  comm_->barrier();
  BenchResult r;
  r.world = comm_->size();
  r.ms_per_step = 1e3 * secs / static_cast<double>(steps);
  r.images_per_second = static_cast<double>(plan_.global_batch * steps) / secs;
  r.comm_wait_fraction = wait_seconds_ / secs;
  return r;
}

}  // namespace attncamp::launch
