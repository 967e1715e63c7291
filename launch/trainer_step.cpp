// One optimizer step of a TrainingRun: forward and backward over this rank's micro-batches (the
// last one's gradients all-reduced bucket by bucket during backward), one small all-reduce that
// makes every rank agree on the loss, non-finite values and stop signals, then the update.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "launch/trainer_internal.h"
#include "ops/clip_grad.h"
#include "ops/reduce.h"

namespace attncamp::launch {

namespace {

// A rank's non-finite flag for the summed step report: 2^rank for the first 52 ranks (sums of
// distinct powers of two are exact in a double, so the sum names every rank), 2^52 beyond.
double nonfinite_flag(int rank) { return std::ldexp(1.0, std::min(rank, 52)); }

// "rank 1" / "ranks 0, 3" from a summed flag.
std::string nonfinite_ranks(double flags, int world) {
  std::string out;
  int count = 0;
  for (int r = 0; r < std::min(world, 52); ++r) {
    if (std::fmod(std::floor(std::ldexp(flags, -r)), 2.0) != 0) out += (count++ ? ", " : "") + std::to_string(r);
  }
  if (flags >= std::ldexp(1.0, 52)) out += std::string(count++ ? ", " : "") + "a rank >= 52";
  if (count == 0) return "some rank";
  return (count == 1 ? "rank " : "ranks ") + out;
}

// Name of the first parameter whose gradient holds Inf or NaN ("(none)" if none).
std::string first_nonfinite_gradient(models::ParamStore& store) {
  for (const auto& p : store.params()) {
    if (!std::isfinite(ops::global_norm(p->grad.view({shape_numel(p->shape)})))) return p->name;
  }
  return "(none)";
}

}  // namespace

// The step of global batch st_.step_in_epoch (the last one of an epoch may be short): its loss
// goes to epoch_loss, the result and the logs.
bool TrainingRun::train_step(const EpochInput& input, EpochLoss& epoch_loss) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t gbatch = plan_.global_batch;
  const int64_t gb = st_.step_in_epoch * gbatch, count = std::min(n_, gb + gbatch) - gb;
  task_->model().params().zero_grad();
  StepReport mine = forward_backward(input, count);
  reducer_->set_enabled(true);
  wait_seconds_ += reducer_->finish();
  mine.stop = stop_signal() != 0 ? 1 : 0;
  const StepReport all = all_reduce_report(*comm_, mine);
  const double loss = all.loss_sum / static_cast<double>(count);
  const double lr = sched_.lr(st_.step);
  if (gradients_usable(all, loss)) {
    opt_->step(lr);
  } else {
    ++result_.skipped_steps;
  }
  ++st_.step;
  step_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (std::isfinite(loss)) {
    epoch_loss.sum += loss;
    ++epoch_loss.count;
  }
  result_.step_losses.push_back(loss);
  log_step(loss, lr, mine.loss_sum);
  progress_->step(st_.step - 1, loss, lr, count);
  return all.stop > 0;
}

// Forward and backward over this rank's micro-batches of a global batch of `count` samples,
// accumulating gradients; the reducer all-reduces only the last micro-batch's. Returns this
// rank's loss sum and non-finite flag.
StepReport TrainingRun::forward_backward(const EpochInput& input, int64_t count) {
  const auto& tc = e_.trainer();
  const std::unique_ptr<data::DeviceFeeder>& feeder = input.feeder;
  StepReport mine;
  for (int64_t micro = 0; micro < plan_.accumulation; ++micro) {
    const bool last_micro = micro + 1 == plan_.accumulation;
    reducer_->set_enabled(last_micro);
    const data::Range r = plan_.micro_range(count, micro);
    if (r.size() == 0) continue;  // this rank's share of a short last batch is empty
    data::Batch batch;
    ATTNCAMP_CHECK(feeder->next(batch), "input pipeline ran out of batches at step ", st_.step + 1);
    ATTNCAMP_CHECK(static_cast<int64_t>(batch.indices.size()) == r.size(), "input batch of ", batch.indices.size(),
                   " samples where the plan has ", r.size());
    const models::ForwardContext ctx{true, tc.seed(), st_.step};
    // Every sample's loss gradient is scaled by 1/count (the global batch), and the ranks'
    // gradients are summed: the same gradient one rank computes for the whole batch.
    const double part = task_->train_batch(batch, ctx, scaler_->scale() / static_cast<double>(count));
    if (!std::isfinite(part)) mine.nonfinite = nonfinite_flag(comm_->rank());
    mine.loss_sum += part;
  }
  return mine;
}

// Whether the optimizer may apply this step's gradients: false when the loss or the (unscaled,
// clipped) gradients are not finite, which stops the run unless trainer.on_nonfinite is
// SKIP_STEP. All ranks decide alike, from all-reduced values.
bool TrainingRun::gradients_usable(const StepReport& all, double loss) {
  const auto& tc = e_.trainer();
  if (all.nonfinite > 0 || !std::isfinite(loss)) {
    const std::string ranks = nonfinite_ranks(all.nonfinite, comm_->size());
    ATTNCAMP_CHECK(tc.on_nonfinite() == config::TrainerConfig::SKIP_STEP, "loss is not finite at step ", st_.step + 1,
                   " on ", ranks,
                   "; lower optimizer.lr, enable optimizer.clip_grad_norm, or set trainer.on_nonfinite: SKIP_STEP");
    if (lead_) {
      std::fprintf(stderr, "step %ld: loss is not finite on %s; step skipped on every rank\n",
                   static_cast<long>(st_.step + 1), ranks.c_str());
    }
    return false;
  }
  models::ParamStore& store = task_->model().params();
  if (!scaler_->unscale_and_check(store.grads())) {
    if (lead_) {
      std::fprintf(stderr, "step %ld: non-finite fp16 gradients, step skipped, loss scale now %g\n",
                   static_cast<long>(st_.step + 1), scaler_->scale());
    }
    return false;
  }
  // The norm of the all-reduced gradients: the same on every rank, so all agree.
  const double clip = e_.optimizer().clip_grad_norm();
  const double norm = clip > 0 ? ops::clip_grad_norm_(store.grads(), clip) : ops::global_norm(store.grads());
  if (std::isfinite(norm)) return true;
  const std::string which = first_nonfinite_gradient(store);
  ATTNCAMP_CHECK(tc.on_nonfinite() == config::TrainerConfig::SKIP_STEP, "gradient of ", which,
                 " is not finite at step ", st_.step + 1, " (after the all-reduce over ", comm_->size(),
                 " rank(s)); set trainer.on_nonfinite: SKIP_STEP to skip such steps");
  if (lead_) {
    std::fprintf(stderr, "step %ld: gradient of %s is not finite; step skipped on every rank\n",
                 static_cast<long>(st_.step + 1), which.c_str());
  }
  return false;
}

}  // namespace attncamp::launch
