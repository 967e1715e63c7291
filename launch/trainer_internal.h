// Internal to the trainer (launch/trainer*.cpp): TrainingRun, the state of one Trainer::run (or
// one `attncamp bench train`), and its parts. run() is an outline of steps (setup, resume, epochs
// of steps, evaluation, logging, checkpoints, early stopping), each a member function over the
// state kept here. What is trained and how a batch becomes a loss is the task's (launch/task.h).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "launch/bench.h"
#include "launch/distributed.h"
#include "launch/precision.h"
#include "launch/progress.h"
#include "launch/schedule.h"
#include "launch/task.h"
#include "launch/tensorboard.h"
#include "launch/trainer.h"
#include "models/optimizer.h"
#include "runtime/ddp.h"

namespace attncamp::launch {

// The loop's position and early-stopping state: what a checkpoint needs to resume bit-exactly.
struct LoopState {
  int64_t step = 0;                                        // global steps completed
  int64_t epoch = 0;                                       // epoch in progress (0-based)
  int64_t step_in_epoch = 0;                               // steps of `epoch` already done
  std::string best_name;                                   // the primary metric whose best value `best` is
  double best = std::numeric_limits<double>::quiet_NaN();  // NaN: not evaluated yet
  int64_t bad_epochs = 0;                                  // evaluations in a row without an improvement of `best`
};

// Writes parameters, optimizer state, loop state and config atomically to `path`.
void save_checkpoint(const std::string& path, models::Model& model, const models::Optimizer& opt, const LoopState& st,
                     const config::Experiment& e, const BatchPlan& plan);
// Restores what save_checkpoint() wrote; the checkpoint's global batch must be `plan`'s.
LoopState load_checkpoint(const std::string& path, models::Model& model, models::Optimizer& opt, const BatchPlan& plan);

// Mean training loss of an epoch, over its steps with a finite loss.
struct EpochLoss {
  double sum = 0;
  int64_t count = 0;
};

class TrainingRun {
 public:
  // `e` must outlive the run; `source` names the config in messages.
  TrainingRun(const config::Experiment& e, std::string source);
  // What Trainer::run does (see trainer.h).
  TrainResult run(const std::string& resume, Communicator* given_comm);
  // `attncamp bench train` (bench.h): the run's setup and training step, without outputs, over
  // one global batch of the task's training samples fed again every step; times `steps` steps
  // after `warmup`.
  BenchResult bench(int64_t steps, int64_t warmup, Communicator* given_comm);

 private:
  // Setup, in this order (trainer_run.cpp; resume_from in trainer_checkpoint.cpp, announce and
  // open_logs in trainer_log.cpp).
  void connect(Communicator* given_comm);  // threads, signals, precision, communicator, batch plan
  void build_model();                      // identical on every rank; reducer, optimizer, scaler
  void choose_primary_metric();
  void prepare_output_dir();  // output_dir, config.pbtxt
  void resume_from(const std::string& resume);
  void plan_schedule();  // steps per epoch, learning-rate schedule, last step
  void announce() const;
  void open_logs();

  // The loop (trainer_run.cpp). run_epoch and run_steps return false when a stop signal ended
  // the run (after its checkpoint).
  bool run_epoch();
  EpochInput open_epoch_input();
  bool run_steps(const EpochInput& input, EpochLoss& epoch_loss);
  void stop_after_signal();
  void end_epoch(const EpochLoss& epoch_loss);
  // Follows the primary metric of an evaluation (early stopping); true when it improved.
  bool follow_primary_metric(const EvalResult& eval);
  void finish();
  // trainer_checkpoint.cpp: the rolling checkpoint (and the kept ones), and best.h5.
  void checkpoint();
  void save_best();

  // One optimizer step (trainer_step.cpp); returns true when some rank received a stop signal.
  bool train_step(const EpochInput& input, EpochLoss& epoch_loss);
  StepReport forward_backward(const EpochInput& input, int64_t count);
  bool gradients_usable(const StepReport& all, double loss);

  // Outputs (trainer_log.cpp).
  void log_step(double loss, double lr, double rank_loss_sum);
  void report_epoch(const EpochRecord& rec);
  void report_autotune();
  void report_final() const;

  // Declared in the order the setup creates them, so they are destroyed in reverse.
  const config::Experiment& e_;
  std::string source_;
  Precision prec_;
  std::unique_ptr<Communicator> own_comm_;
  Communicator* comm_ = nullptr;  // own_comm_ or the caller's
  bool lead_ = false;             // rank 0: prints, writes metrics, events and checkpoints
  BatchPlan plan_;
  std::unique_ptr<Task> task_;
  std::unique_ptr<GradientReducer> reducer_;
  std::unique_ptr<models::Optimizer> opt_;
  std::unique_ptr<LossScaler> scaler_;
  std::string out_dir_, ckpt_, metrics_path_, primary_;
  LoopState st_;
  int64_t n_ = 0, steps_per_epoch_ = 0, epochs_ = 0, last_step_ = 0;
  int64_t checkpoint_step_ = -1;  // step of the last checkpoint.h5 written by this run
  Schedule sched_;
  std::unique_ptr<EventWriter> events_;
  std::ofstream metrics_log_, rank_log_;
  TrainResult result_;
  std::unique_ptr<Progress> progress_;
  std::shared_ptr<data::TensorPool> pool_;  // host batches, one pool across epochs
  double step_seconds_ = 0, wait_seconds_ = 0;
  size_t autotune_lines_ = 0;  // of ops::attention_autotune_report() printed
  bool stop_ = false;
};

}  // namespace attncamp::launch
