// The training loop, for any task (launch/task.h): data, model, optimizer, schedule, per-epoch
// evaluation into named metrics, early stopping and the best checkpoint on the primary metric,
// atomic HDF5 checkpoints and bit-exact resume, progress output and a metrics log
// (output_dir/metrics.jsonl).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attncamp.pb.h"
#include "data/checkpoint.h"
#include "launch/metrics.h"
#include "models/model.h"
#include "runtime/communicator.h"

namespace attncamp::launch {

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0;
  EvalResult eval;  // empty without an evaluation set
  double images_per_second = 0;
};

struct TrainResult {
  std::vector<EpochRecord> epochs;
  std::vector<double> step_losses;  // losses of the steps run by this call (mean over the global batch)
  int64_t steps = 0;                // global steps completed
  EvalResult final_eval;
  std::string primary_metric;  // the metric early stopping and best.h5 follow
  double best_metric = 0;      // its best value (NaN when never evaluated)
  bool early_stopped = false;
  int stop_signal = 0;            // SIGTERM/SIGUSR1 that ended the run after a checkpoint (0 = none)
  double comm_wait_fraction = 0;  // share of step time spent waiting for gradient all-reduces
  int64_t skipped_steps = 0;      // optimizer steps skipped for non-finite values
};

// Copies the checkpoint's /params (read from `path`, named in errors) into `model`; its shape
// and dtype must match the model's flat parameter buffer.
void load_parameters(const data::CheckpointData& c, const std::string& path, models::Model& model);

// Sets the number of CPU threads for kernels and BLAS (0 = leave the default).
void set_cpu_threads(int threads);

class Trainer {
 public:
  // `source` names the config (file path) in messages; `config_text` is stored in checkpoints.
  Trainer(const config::Experiment& experiment, std::string source);
  // resume: "" (fresh start), "auto" (output_dir/checkpoint.h5 if present) or a checkpoint path.
  // comm: the communicator to train over; nullptr = make_communicator() (the launcher's ranks,
  // or a single process).
  TrainResult run(const std::string& resume = "", Communicator* comm = nullptr);

 private:
  config::Experiment e_;
  std::string source_;
};

// Paths of the outputs in an output folder: the rolling checkpoint (always the latest), the
// best one by the primary metric, and the kept checkpoint of step `step` (trainer.keep_checkpoints).
std::string checkpoint_path(const std::string& output_dir);
std::string best_checkpoint_path(const std::string& output_dir);
std::string step_checkpoint_path(const std::string& output_dir, int64_t step);

}  // namespace attncamp::launch
