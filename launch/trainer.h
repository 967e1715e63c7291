// The training loop: data, model, optimizer, schedule, per-epoch evaluation
// (top-1, top-5, loss), early stopping, atomic HDF5 checkpoints and bit-exact
// resume, progress output and a metrics log (output_dir/metrics.jsonl).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attncamp.pb.h"
#include "data/checkpoint.h"
#include "data/classification.h"
#include "data/loader.h"
#include "models/vit.h"
#include "runtime/communicator.h"

namespace attncamp::launch {

struct EvalResult {
  double loss = 0, top1 = 0, top5 = 0;  // mean loss; accuracies as fractions in [0,1]
  int64_t count = 0;
};

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0;
  EvalResult eval;
  double images_per_second = 0;
};

struct TrainResult {
  std::vector<EpochRecord> epochs;
  std::vector<double> step_losses;  // losses of the steps run by this call (mean over the global batch)
  int64_t steps = 0;                // global steps completed
  EvalResult final_eval;
  bool early_stopped = false;
  int stop_signal = 0;            // SIGTERM/SIGUSR1 that ended the run after a checkpoint (0 = none)
  double comm_wait_fraction = 0;  // share of step time spent waiting for gradient all-reduces
  int64_t skipped_steps = 0;      // optimizer steps skipped for non-finite values
};

// Model configuration from an experiment (num_classes: from the config, or `data_classes` when 0).
models::VitConfig vit_config_from(const config::Experiment& e, int64_t data_classes);

// Evaluates `model` on the first `limit` samples of `data` (0 = all) in batches. With a
// communicator of N ranks each rank evaluates a contiguous Nth and the sums are all-reduced, so
// every sample counts exactly once and every rank returns the same result.
EvalResult evaluate(models::VisionTransformer& model, const data::ClassificationData& data, int64_t batch,
                    int64_t limit = 0, Communicator* comm = nullptr);

// The same over a streamed source (each rank reads only its part of the file, `threads` loader
// workers).
EvalResult evaluate(models::VisionTransformer& model, const std::shared_ptr<const data::BatchSource>& source,
                    int64_t batch, int64_t limit, Communicator* comm, int threads);

// Host batch of samples `rows` of `data`: inputs u8 [n,H,W,C] (from `pool` when given, e.g. a
// pinned pool for a GPU) and labels i32 [n].
data::Batch gather_batch(const data::ClassificationData& data, const std::vector<int64_t>& rows,
                         data::TensorPool* pool = nullptr);

// Copies the checkpoint's /params (read from `path`, named in errors) into `model`; its shape
// and dtype must match the model's flat parameter buffer.
void load_parameters(const data::CheckpointData& c, const std::string& path, models::VisionTransformer& model);

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

// Path of the rolling checkpoint in an output folder.
std::string checkpoint_path(const std::string& output_dir);

}  // namespace attncamp::launch
