// `attncamp bench train`: times full training steps (forward, loss, backward,
// clipping, optimizer) of a config's model on synthetic data and prints images/s.
#pragma once

#include <string>

#include "attncamp.pb.h"

namespace attncamp::launch {

struct BenchResult {
  double images_per_second = 0;
  double ms_per_step = 0;
};

BenchResult bench_train(const config::Experiment& e, int64_t steps, int64_t warmup);

}  // namespace attncamp::launch
