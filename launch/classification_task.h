// Image classification: a classifier (model.vit) trained with label-smoothed cross-entropy on
// classification/1 files (read whole into memory, or streamed by the prefetching loader with
// random-resized-crop and flip) or on synthetic images, and evaluated on the test set into
// test/top1, test/top5 and test/loss, each sample counted once over the ranks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/classification.h"
#include "launch/task.h"
#include "models/vit.h"

namespace attncamp::launch {

class ClassificationTask : public Task {
 public:
  // Opens the data (`what`), resolves the number of classes (model.vit.num_classes, or the
  // training file's, or for kEvalOnly the evaluation file's) and builds the model for `p`.
  ClassificationTask(const config::Experiment& e, const Precision& p, TaskData what);

  models::Model& model() override { return *model_; }
  models::Classifier& classifier() { return *model_; }
  int64_t train_size() const override;
  std::string train_source() const override;
  EpochInput open_training(std::vector<std::vector<int64_t>> plan, int64_t epoch, Device device,
                           std::shared_ptr<data::TensorPool> pool) override;
  double train_batch(const data::Batch& batch, const models::ForwardContext& ctx, double grad_scale) override;
  bool has_evaluation() const override { return has_test_; }
  EvalResult evaluate(Communicator* comm) override;
  std::vector<std::string> metric_names() const override { return metrics(); }
  std::string summary(const EvalResult& r) const override;

  // test/top1 (the primary metric), test/top5, test/loss.
  static std::vector<std::string> metrics();
  // `e` with `samples` synthetic images of the model's size (model.vit.num_classes, or 10 when
  // it is 0) in place of its files.
  static config::Experiment with_synthetic_data(const config::Experiment& e, int64_t samples);

 private:
  void load_train_set();
  void load_test_set();
  void check_against_model();
  // Evaluation over the batches `feeder` delivers (this rank's part of the first n samples,
  // `expected` of them); sums all-reduced over `comm`.
  EvalResult evaluate_batches(data::DeviceFeeder& feeder, int64_t n, int64_t expected, Communicator* comm);

  config::Experiment e_;
  bool stream_ = false;                                 // training set streamed by the loader
  std::shared_ptr<data::ClassificationSource> source_;  // the streamed training set
  data::ClassificationData train_;                      // in memory (streaming: only num_classes and path)
  bool has_test_ = false;
  data::ClassificationData test_;                         // in-memory test set
  std::shared_ptr<const data::BatchSource> test_source_;  // streamed test set
  int64_t classes_ = 0;
  std::unique_ptr<models::VisionTransformer> model_;
  Tensor losses_, dlogits_;
};

// The ViT of an experiment (num_classes: from the config, or `data_classes` when 0).
models::VitConfig vit_config_from(const config::Experiment& e, int64_t data_classes);

// Host batch of samples `rows` of `data`: inputs u8 [n,H,W,C] (from `pool` when given, e.g. a
// pinned pool for a GPU), labels i32 [n], indices = rows.
data::Batch gather_batch(const data::ClassificationData& data, const std::vector<int64_t>& rows,
                         data::TensorPool* pool = nullptr);

}  // namespace attncamp::launch
