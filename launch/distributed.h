// The data-parallel side of a training run: the communicator, how a global batch is split into
// ranks and micro-batches, the per-step agreement of all ranks (loss, non-finite values, stop
// signals) in one small all-reduce, and the preemption signals (SIGTERM, SIGUSR1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "attncamp.pb.h"
#include "data/sampler.h"
#include "runtime/communicator.h"

namespace attncamp::launch {

// Samples per optimizer step and how they are spread.
struct BatchPlan {
  int world = 1;
  int rank = 0;
  int64_t global_batch = 0;  // samples per optimizer step, over all ranks
  int64_t accumulation = 1;  // micro-batches per step on each rank
  // This rank's micro-batch `micro` of a global batch of `count` samples (the last global batch
  // of an epoch may be short): positions relative to the global batch's first sample.
  data::Range micro_range(int64_t count, int64_t micro) const;
  // "global batch 256 = 2 ranks x 1 micro-batch x 128"
  std::string str() const;
};
// From trainer.batch_size / trainer.global_batch and the world size.
BatchPlan batch_plan(const config::TrainerConfig& t, int world, int rank);

// Installs SIGTERM and SIGUSR1 handlers that only set a flag (idempotent).
void install_stop_signals();
// The signal received since install_stop_signals() (0 = none).
int stop_signal();

// What every rank reports at the end of a step; summed over ranks in one all-reduce.
struct StepReport {
  double loss_sum = 0;   // sum of per-sample losses of this rank's samples
  double nonfinite = 0;  // non-zero when this rank saw a non-finite loss (trainer: 2^rank)
  double stop = 0;       // 1 when this rank received a stop signal
};
StepReport all_reduce_report(Communicator& comm, const StepReport& mine);

}  // namespace attncamp::launch
