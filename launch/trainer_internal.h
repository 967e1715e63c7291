// Internal to the trainer (launch/trainer*.cpp): TrainingRun, the state of one Trainer::run, and
// its parts. run() is an outline of steps (setup, resume, epochs of steps, evaluation, logging,
// checkpoints, early stopping), each a member function over the state kept here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "data/device_feeder.h"
#include "data/loader.h"
#include "launch/distributed.h"
#include "launch/precision.h"
#include "launch/progress.h"
#include "launch/schedule.h"
#include "launch/tensorboard.h"
#include "launch/trainer.h"
#include "models/optimizer.h"
#include "runtime/ddp.h"

namespace attncamp::launch {

// Host batches for a GPU come from page-locked buffers, so their uploads overlap with compute.
std::shared_ptr<data::TensorPool> host_pool(Device device);

// Feeds the batches `plan` of in-memory `data` (gathered on the calling thread) to `device`.
// `data` must outlive the feeder.
std::unique_ptr<data::DeviceFeeder> memory_feeder(const data::ClassificationData& data,
                                                  std::vector<std::vector<int64_t>> plan, Device device,
                                                  std::shared_ptr<data::TensorPool> pool);

// The samples a run trains and evaluates on, checked against the model's input shape.
struct RunData {
  bool stream = false;                                 // training set streamed by the loader
  std::shared_ptr<data::ClassificationSource> source;  // the streamed training set
  data::ClassificationData train;                      // in memory (streaming: only num_classes and path are set)
  bool has_test = false;
  data::ClassificationData test;                         // in-memory test set
  std::shared_ptr<const data::BatchSource> test_source;  // streamed test set (streaming runs)
  int64_t classes = 0;                                   // the model's number of classes
  // Training samples.
  int64_t size() const { return stream ? source->size() : train.labels.numel(); }
};
// Synthetic, read whole into memory, or (data.loader_threads > 0) streamed from the files.
RunData load_run_data(const config::Experiment& e);

// The loop's position and early-stopping state: what a checkpoint needs to resume bit-exactly.
struct LoopState {
  int64_t step = 0;           // global steps completed
  int64_t epoch = 0;          // epoch in progress (0-based)
  int64_t step_in_epoch = 0;  // steps of `epoch` already done
  double best_top1 = -1;
  int64_t bad_epochs = 0;
};

// Writes parameters, optimizer state, loop state and config atomically to `path`.
void save_checkpoint(const std::string& path, models::VisionTransformer& model, const models::Optimizer& opt,
                     const LoopState& st, const config::Experiment& e, const BatchPlan& plan);
// Restores what save_checkpoint() wrote; the checkpoint's global batch must be `plan`'s.
LoopState load_checkpoint(const std::string& path, models::VisionTransformer& model, models::Optimizer& opt,
                          const BatchPlan& plan);

// One epoch's input pipeline: the loader (streaming runs only) and the feeder that uploads its
// batches to the device. The feeder is declared last, so it stops before the loader does.
struct EpochInput {
  std::unique_ptr<data::Loader> loader;
  std::unique_ptr<data::DeviceFeeder> feeder;
};

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

 private:
  // Setup, in this order (trainer_run.cpp; resume_from in trainer_checkpoint.cpp, announce and
  // open_logs in trainer_log.cpp).
  void connect(Communicator* given_comm);  // threads, signals, precision, communicator, batch plan
  void build_model();                      // identical on every rank; reducer, optimizer, scaler
  void prepare_output_dir();               // output_dir, config.pbtxt
  void resume_from(const std::string& resume);
  void plan_schedule();  // steps per epoch, learning-rate schedule, last step
  void announce() const;
  void open_logs();

  // The loop (trainer_run.cpp). run_epoch and run_steps return false when a stop signal ended
  // the run (after its checkpoint).
  bool run_epoch();
  EpochInput open_epoch_input();  // trainer_data.cpp
  bool run_steps(const EpochInput& input, EpochLoss& epoch_loss);
  void stop_after_signal();
  void end_epoch(const EpochLoss& epoch_loss);
  void update_early_stopping(double top1);
  EvalResult evaluate_test();
  void finish();
  void checkpoint();  // trainer_checkpoint.cpp

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
  RunData data_;
  std::unique_ptr<models::VisionTransformer> model_;
  std::unique_ptr<GradientReducer> reducer_;
  std::unique_ptr<models::Optimizer> opt_;
  std::unique_ptr<LossScaler> scaler_;
  std::string out_dir_, ckpt_, metrics_path_;
  LoopState st_;
  int64_t n_ = 0, steps_per_epoch_ = 0, epochs_ = 0, last_step_ = 0;
  Schedule sched_;
  std::unique_ptr<EventWriter> events_;
  std::ofstream metrics_log_, rank_log_;
  TrainResult result_;
  std::unique_ptr<Progress> progress_;
  Tensor losses_, dlogits_;
  std::shared_ptr<data::TensorPool> pool_;  // host batches, one pool across epochs
  double step_seconds_ = 0, wait_seconds_ = 0;
  size_t autotune_lines_ = 0;  // of ops::attention_autotune_report() printed
  bool stop_ = false;
};

}  // namespace attncamp::launch
