// Trainer's public entry points: loading parameters from a checkpoint, CPU threads, output paths,
// and Trainer::run, which hands the run to TrainingRun (trainer_internal.h; the loop is in
// trainer_run.cpp).
#include "launch/trainer.h"

#include <cblas.h>
#include <omp.h>

#include <filesystem>
#include <string>

#include "launch/trainer_internal.h"

namespace attncamp::launch {

namespace fs = std::filesystem;

void set_cpu_threads(int threads) {
  if (threads <= 0) return;
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

std::string checkpoint_path(const std::string& output_dir) { return (fs::path(output_dir) / "checkpoint.h5").string(); }

std::string best_checkpoint_path(const std::string& output_dir) { return (fs::path(output_dir) / "best.h5").string(); }

std::string step_checkpoint_path(const std::string& output_dir, int64_t step) {
  return (fs::path(output_dir) / ("checkpoint-step" + std::to_string(step) + ".h5")).string();
}

void load_parameters(const data::CheckpointData& c, const std::string& path, models::Model& model) {
  Tensor& values = model.params().values();
  values.copy_from(data::get_tensor(c, "params", path, values.shape(), values.dtype()));
  model.params().sync_compute();
}

Trainer::Trainer(const config::Experiment& experiment, std::string source)
    : e_(experiment), source_(std::move(source)) {}

TrainResult Trainer::run(const std::string& resume, Communicator* given_comm) {
  return TrainingRun(e_, source_).run(resume, given_comm);
}

}  // namespace attncamp::launch
