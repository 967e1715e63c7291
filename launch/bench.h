// `attncamp bench train`: times the trainer's own training steps (forward, loss, backward,
// gradient all-reduce, clipping, optimizer) of a config's model on synthetic data of its shape;
// `attncamp bench allreduce`: all-reduce bandwidth.
#pragma once

#include <cstdint>
#include <string>

#include "attncamp.pb.h"

namespace attncamp::launch {

struct BenchResult {
  double images_per_second = 0;  // over all ranks
  double ms_per_step = 0;
  int world = 1;
  double comm_wait_fraction = 0;  // share of step time waiting for gradient all-reduces
};

// Under mpirun/srun every rank runs the config's per-rank batch (and its accumulation steps, with
// trainer.global_batch) with data-parallel gradient reduction (buckets overlapping backward), as
// in training: the step is TrainingRun's (launch/trainer_bench.cpp).
BenchResult bench_train(const config::Experiment& e, int64_t steps, int64_t warmup);

// `attncamp bench allreduce`: all-reduce (sum, f32) of 8 B .. max_bytes in x2 steps on the
// communicator `backend` names, or with "auto" the one the launcher gives (mpi on `device` cpu,
// nccl on cuda, single without a launcher); rank 0 prints an nccl-tests style table: size, count, type, time, algbw,
// busbw (busbw = algbw * 2(p-1)/p, the bus bandwidth of a ring).
void bench_allreduce(const std::string& device, const std::string& backend, int64_t max_bytes, int iters);

}  // namespace attncamp::launch
