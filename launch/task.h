// The seam between the trainer and what it trains. The trainer (launch/trainer*.cpp) knows no
// model: a Task builds its model, its training and evaluation data, turns one batch into a loss
// and gradients, and evaluates into named metrics. Everything else (schedule, DDP, checkpoints,
// signals, the non-finite policy, progress, logs) is the trainer's. The model kind in the config
// picks the task: model.vit -> ClassificationTask (launch/classification_task.h).
//
// Adding a task: derive from Task, add its model message to ModelConfig's oneof and its data
// message to DataConfig's (launch/proto/attncamp.proto), validate them (launch/config_validate.cpp,
// with its metric names in evaluation_metrics), and construct it in make_task (launch/task.cpp).
// docs/developing.md walks through it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attncamp.pb.h"
#include "data/device_feeder.h"
#include "data/loader.h"
#include "launch/metrics.h"
#include "launch/precision.h"
#include "models/model.h"
#include "runtime/communicator.h"

namespace attncamp::launch {

// One epoch's input pipeline: the loader (streaming runs only) and the feeder that uploads its
// batches to the device. The feeder is declared last, so it stops before the loader does.
struct EpochInput {
  std::unique_ptr<data::Loader> loader;
  std::unique_ptr<data::DeviceFeeder> feeder;
};

// Which of a task's data to open: training needs both, `attncamp eval` only the evaluation set.
enum class TaskData { kTrainAndEval, kEvalOnly };

class Task {
 public:
  virtual ~Task() = default;
  Task() = default;
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  // The model, built on the run's device and precision (parameters not yet initialised).
  virtual models::Model& model() = 0;

  // Training samples in an epoch, and where they come from (a path, "synthetic"), for messages.
  virtual int64_t train_size() const = 0;
  virtual std::string train_source() const = 0;
  // This rank's host batches of training samples `plan` (lists of sample indices, in order) for
  // `epoch`, delivered to `device`; host buffers come from `pool`. Each batch's `indices` are the
  // samples it holds.
  virtual EpochInput open_training(std::vector<std::vector<int64_t>> plan, int64_t epoch, Device device,
                                   std::shared_ptr<data::TensorPool> pool) = 0;
  // Forward, loss and backward of one micro-batch (on the model's device). The per-sample loss
  // gradients are multiplied by `grad_scale` (the trainer passes loss scale / global batch, so
  // gradients summed over micro-batches and ranks are the global batch's mean). Returns the sum of
  // the batch's per-sample losses (non-finite when one is).
  virtual double train_batch(const data::Batch& batch, const models::ForwardContext& ctx, double grad_scale) = 0;

  // Whether there is an evaluation set; evaluate() over it (each sample once over the ranks of
  // `comm`, or all on this process when comm is null; every rank returns the same result).
  virtual bool has_evaluation() const = 0;
  virtual EvalResult evaluate(Communicator* comm) = 0;
  // The evaluation's metric names, the primary one first (launch/config.h evaluation_metrics).
  virtual std::vector<std::string> metric_names() const = 0;
  // One line of an evaluation for people: "test loss 0.4123, top-1 87.59%, top-5 99.70%".
  virtual std::string summary(const EvalResult& r) const = 0;
};

// Host batch buffers for `device`: page-locked on a GPU, so their uploads overlap with compute.
std::shared_ptr<data::TensorPool> host_pool(Device device);

// The task of `e`'s model kind, its model built for `precision`.
std::unique_ptr<Task> make_task(const config::Experiment& e, const Precision& precision,
                                TaskData what = TaskData::kTrainAndEval);

// Names of the metrics the evaluation of `model`'s task reports, its primary metric (the default
// of trainer.primary_metric) first; what Task::metric_names() returns, known without data.
std::vector<std::string> evaluation_metrics(const config::ModelConfig& model);

// `e` with `samples` synthetic training samples of its model's input shape instead of its files
// (`attncamp bench train` measures the training step on them).
config::Experiment with_synthetic_data(const config::Experiment& e, int64_t samples);

}  // namespace attncamp::launch
