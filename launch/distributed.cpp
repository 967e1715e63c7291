// Batch plans, stop signals and the per-step report.
#include "launch/distributed.h"

#include <csignal>
#include <sstream>

namespace attncamp::launch {

data::Range BatchPlan::micro_range(int64_t count, int64_t micro) const {
  const data::Range mine = data::split_range(count, world, rank);
  const data::Range part = data::split_range(mine.size(), accumulation, micro);
  return data::Range{mine.begin + part.begin, mine.begin + part.end};
}

std::string BatchPlan::str() const {
  std::ostringstream os;
  const int64_t per = (global_batch + world * accumulation - 1) / (world * accumulation);
  os << "global batch " << global_batch << " = " << world << (world == 1 ? " rank" : " ranks") << " x " << accumulation
     << " micro-batch" << (accumulation == 1 ? "" : "es") << " x "
     << (global_batch % (world * accumulation) ? "<=" : "") << per;
  return os.str();
}

BatchPlan batch_plan(const config::TrainerConfig& t, int world, int rank) {
  BatchPlan p;
  p.world = world;
  p.rank = rank;
  if (t.global_batch() > 0) {
    p.global_batch = t.global_batch();
    const int64_t per_step = static_cast<int64_t>(world) * t.batch_size();
    p.accumulation = (p.global_batch + per_step - 1) / per_step;
  } else {
    p.global_batch = static_cast<int64_t>(world) * t.batch_size();
  }
  return p;
}

namespace {
volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_stop_signal(int sig) { g_signal = sig; }
}  // namespace

void install_stop_signals() {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGUSR1, on_stop_signal);
}

int stop_signal() { return static_cast<int>(g_signal); }

StepReport all_reduce_report(Communicator& comm, const StepReport& mine) {
  if (comm.size() == 1) return mine;
  Tensor t = Tensor::empty({3}, DType::kF64);
  double* p = t.data<double>();
  p[0] = mine.loss_sum;
  p[1] = mine.nonfinite;
  p[2] = mine.stop;
  comm.all_reduce(t, ReduceOp::kSum)->wait();
  return StepReport{p[0], p[1], p[2]};
}

}  // namespace attncamp::launch
