// TrainingRun: the outline of a run (setup, resume, epochs, final evaluation) and its epoch loop.
// Determinism: the sample order comes from (seed, epoch), dropout masks from (seed, step), kernels
// use static schedules; so a run resumed from a checkpoint reproduces the losses of an
// uninterrupted run exactly.
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/sampler.h"
#include "launch/config.h"
#include "launch/trainer_internal.h"

namespace attncamp::launch {

namespace fs = std::filesystem;

namespace {

models::OptimizerSettings optimizer_settings(const config::OptimizerConfig& o) {
  models::OptimizerSettings s;
  s.kind = o.kind() == config::OptimizerConfig::SGD ? models::OptimizerSettings::Kind::kSgd
                                                    : models::OptimizerSettings::Kind::kAdamW;
  s.beta1 = o.beta1();
  s.beta2 = o.beta2();
  s.eps = o.eps();
  s.weight_decay = o.weight_decay();
  s.momentum = o.momentum();
  s.nesterov = o.nesterov();
  return s;
}

}  // namespace

TrainingRun::TrainingRun(const config::Experiment& e, std::string source) : e_(e), source_(std::move(source)) {}

TrainResult TrainingRun::run(const std::string& resume, Communicator* given_comm) {
  const auto& tc = e_.trainer();
  connect(given_comm);
  task_ = make_task(e_, prec_);
  ATTNCAMP_CHECK(task_->train_size() > 0, task_->train_source(), ": has no training samples; nothing to train on");
  build_model();
  choose_primary_metric();
  prepare_output_dir();
  resume_from(resume);
  plan_schedule();
  announce();
  open_logs();
  progress_ = std::make_unique<Progress>(last_step_, tc.log_every_steps(), tc.log_every_seconds(), lead_);
  pool_ = host_pool(prec_.device);
  stop_ = st_.step >= last_step_;
  while (!stop_ && st_.epoch < epochs_ && st_.step < last_step_) {
    if (!run_epoch()) return std::move(result_);
  }
  finish();
  return std::move(result_);
}

void TrainingRun::connect(Communicator* given_comm) {
  const auto& tc = e_.trainer();
  set_cpu_threads(tc.threads());
  install_stop_signals();
  prec_ = precision_from(e_, source_);
  CommOptions copt;
  copt.timeout_s = tc.collective_timeout_s();
  copt.check_consistency = !tc.skip_collective_checks();
  if (given_comm == nullptr) own_comm_ = make_communicator(prec_.device, copt);
  comm_ = given_comm != nullptr ? given_comm : own_comm_.get();
  lead_ = comm_->rank() == 0;
  if (!prec_.device.is_cpu() && comm_->size() > 1) prec_.device = Device::cuda(comm_->local_rank());
  plan_ = batch_plan(tc, comm_->size(), comm_->rank());
}

// The model, initialized from the seed and broadcast from rank 0; the gradient reducer starts each
// bucket's all-reduce as soon as backward has produced its gradients.
void TrainingRun::build_model() {
  const auto& tc = e_.trainer();
  models::Model& model = task_->model();
  model.initialize(tc.seed());
  models::ParamStore& store = model.params();
  broadcast_parameters(*comm_, store.values());
  store.sync_compute();
  std::vector<ParamRange> ranges;
  for (const auto& p : store.params()) ranges.push_back(ParamRange{p->offset, shape_numel(p->shape)});
  reducer_ = std::make_unique<GradientReducer>(*comm_, store.grads(), ranges, tc.bucket_mb());
  store.set_grad_ready_hook([reducer = reducer_.get()](int i) { reducer->mark_ready(i); });
  opt_ = std::make_unique<models::Optimizer>(store, optimizer_settings(e_.optimizer()));
  scaler_ = std::make_unique<LossScaler>(prec_.compute == DType::kF16);
}

// The metric early stopping and best.h5 follow: trainer.primary_metric or the task's own.
void TrainingRun::choose_primary_metric() {
  const std::string& chosen = e_.trainer().primary_metric();
  primary_ = chosen.empty() ? task_->metric_names().front() : chosen;
  st_.best_name = primary_;
}

void TrainingRun::prepare_output_dir() {
  const auto& tc = e_.trainer();
  out_dir_ = tc.output_dir().empty() ? "runs/" + e_.name() : tc.output_dir();
  fs::create_directories(out_dir_);
  ckpt_ = checkpoint_path(out_dir_);
  metrics_path_ = (fs::path(out_dir_) / "metrics.jsonl").string();
  if (lead_) {
    const std::string cfg_path = (fs::path(out_dir_) / "config.pbtxt").string();
    std::ofstream f(cfg_path);
    ATTNCAMP_CHECK(f.good(), "cannot write ", cfg_path);
    f << config_to_text(e_);
  }
}

void TrainingRun::plan_schedule() {
  const auto& tc = e_.trainer();
  n_ = task_->train_size();
  const int64_t gbatch = plan_.global_batch;
  steps_per_epoch_ = (n_ + gbatch - 1) / gbatch;
  epochs_ = tc.epochs();
  const auto& o = e_.optimizer();
  sched_.base_lr = scaled_lr(o, gbatch);
  sched_.min_lr = o.min_lr();
  sched_.total_steps = epochs_ * steps_per_epoch_;
  sched_.warmup_steps = static_cast<int64_t>(std::llround(o.warmup_epochs() * steps_per_epoch_));
  sched_.cosine = o.schedule() == config::OptimizerConfig::COSINE;
  last_step_ = tc.max_steps() > 0 ? std::min(tc.max_steps(), sched_.total_steps) : sched_.total_steps;
}

// The rest of the epoch in progress, then its evaluation and checkpoint. The epoch's input
// pipeline lives until the epoch's end.
bool TrainingRun::run_epoch() {
  const EpochInput input = open_epoch_input();
  progress_->begin_epoch(st_.epoch, epochs_);
  EpochLoss epoch_loss;
  if (!run_steps(input, epoch_loss)) return false;
  end_epoch(epoch_loss);
  return true;
}

// This rank's micro-batches of the epoch in progress from its next step on, in the loop's order
// (data::rank_batches leaves out the empty micro-batches, as the step loop skips them).
EpochInput TrainingRun::open_epoch_input() {
  const auto& tc = e_.trainer();
  std::vector<std::vector<int64_t>> batches =
      data::rank_batches(n_, tc.seed(), st_.epoch, plan_.global_batch, comm_->size(), comm_->rank(), plan_.accumulation,
                         st_.step_in_epoch);
  return task_->open_training(std::move(batches), st_.epoch, prec_.device, pool_);
}

// Runs the epoch's remaining steps; stops early at the last step (stop_) or on a stop signal.
bool TrainingRun::run_steps(const EpochInput& input, EpochLoss& epoch_loss) {
  for (; st_.step_in_epoch < steps_per_epoch_; ++st_.step_in_epoch) {
    if (st_.step >= last_step_) {
      stop_ = true;
      break;
    }
    if (train_step(input, epoch_loss)) {
      stop_after_signal();
      return false;
    }
  }
  return true;
}

// Preemption: every rank saw the same step report, so all stop after this step together.
void TrainingRun::stop_after_signal() {
  ++st_.step_in_epoch;
  if (st_.step_in_epoch >= steps_per_epoch_) {
    ++st_.epoch;
    st_.step_in_epoch = 0;
  }
  if (lead_) checkpoint();
  comm_->barrier();
  result_.stop_signal = stop_signal() != 0 ? stop_signal() : SIGTERM;
  if (lead_) {
    progress_->finish_line();
    std::printf("stop signal received: checkpoint %s written at step %ld; resume with --resume auto\n", ckpt_.c_str(),
                static_cast<long>(st_.step));
  }
  result_.steps = st_.step;
}

// A completed epoch is evaluated, reported, checked for early stopping and checkpointed (every
// checkpoint_every_epochs and at the end); an epoch cut short by max_steps is checkpointed.
void TrainingRun::end_epoch(const EpochLoss& epoch_loss) {
  const auto& tc = e_.trainer();
  progress_->finish_line();
  if (st_.step_in_epoch < steps_per_epoch_) {
    if (lead_) checkpoint();
    return;
  }
  EpochRecord rec;
  rec.epoch = st_.epoch + 1;
  rec.train_loss = epoch_loss.count ? epoch_loss.sum / static_cast<double>(epoch_loss.count) : 0;
  rec.images_per_second = progress_->epoch_rate();
  if (task_->has_evaluation()) rec.eval = task_->evaluate(comm_);
  result_.epochs.push_back(rec);
  if (lead_) report_epoch(rec);
  ++st_.epoch;
  st_.step_in_epoch = 0;
  const bool improved = task_->has_evaluation() && follow_primary_metric(rec.eval);
  const bool periodic = tc.checkpoint_every_epochs() > 0 && st_.epoch % tc.checkpoint_every_epochs() == 0;
  if (lead_ && (periodic || stop_ || st_.epoch >= epochs_ || st_.step >= last_step_)) checkpoint();
  if (lead_ && improved) save_best();
}

// The primary metric after an epoch's evaluation: a new best value (returns true; best.h5
// follows, in end_epoch), or one more epoch without one, which stops the run after
// trainer.early_stopping_patience such epochs.
bool TrainingRun::follow_primary_metric(const EvalResult& eval) {
  const auto& tc = e_.trainer();
  const double value = eval.at(primary_);
  if (improves(primary_, value, st_.best)) {
    st_.best = value;
    st_.bad_epochs = 0;
    return true;
  }
  ++st_.bad_epochs;
  if (tc.early_stopping_patience() > 0 && st_.bad_epochs >= tc.early_stopping_patience()) {
    if (lead_) {
      std::printf("early stopping: %s has not improved for %ld epochs (best %.6g)\n", primary_.c_str(),
                  static_cast<long>(st_.bad_epochs), st_.best);
    }
    result_.early_stopped = true;
    stop_ = true;
  }
  return false;
}

// The final evaluation (the last epoch's, unless training went on after it), the summary lines,
// and a barrier so rank 0's checkpoint is complete before any rank exits.
void TrainingRun::finish() {
  result_.steps = st_.step;
  result_.comm_wait_fraction = step_seconds_ > 0 ? wait_seconds_ / step_seconds_ : 0;
  result_.primary_metric = primary_;
  result_.best_metric = st_.best;
  if (task_->has_evaluation()) {
    const bool evaluated =
        !result_.epochs.empty() && result_.epochs.back().epoch == st_.epoch && st_.step_in_epoch == 0;
    result_.final_eval = evaluated ? result_.epochs.back().eval : task_->evaluate(comm_);
  }
  report_final();
  comm_->barrier();
  if (lead_) std::printf("checkpoint: %s\n", ckpt_.c_str());
}

}  // namespace attncamp::launch
