// make_task: the model kind of a config picks its task.
#include "launch/task.h"

#include "launch/classification_task.h"

namespace attncamp::launch {

std::shared_ptr<data::TensorPool> host_pool(Device device) {
  return std::make_shared<data::TensorPool>(16, !device.is_cpu());
}

std::unique_ptr<Task> make_task(const config::Experiment& e, const Precision& precision, TaskData what) {
  switch (e.model().kind_case()) {
    case config::ModelConfig::kVit: return std::make_unique<ClassificationTask>(e, precision, what);
    case config::ModelConfig::KIND_NOT_SET: break;
  }
  ATTNCAMP_THROW("field model: the config names no architecture (e.g. model { vit { ... } })");
}

std::vector<std::string> evaluation_metrics(const config::ModelConfig& model) {
  switch (model.kind_case()) {
    case config::ModelConfig::kVit: return ClassificationTask::metrics();
    case config::ModelConfig::KIND_NOT_SET: break;
  }
  return {};
}

config::Experiment with_synthetic_data(const config::Experiment& e, int64_t samples) {
  switch (e.model().kind_case()) {
    case config::ModelConfig::kVit: return ClassificationTask::with_synthetic_data(e, samples);
    case config::ModelConfig::KIND_NOT_SET: break;
  }
  ATTNCAMP_THROW("field model: the config names no architecture (e.g. model { vit { ... } })");
}

}  // namespace attncamp::launch
