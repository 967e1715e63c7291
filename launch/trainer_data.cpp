// Where a training run's batches come from: the training and test sets (synthetic, in memory or
// streamed by the prefetching loader), their checks against the model, and each epoch's input
// pipeline (this rank's micro-batches in the loop's order, uploaded ahead of the step using them).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "data/sampler.h"
#include "data/synthetic.h"
#include "launch/trainer_internal.h"

namespace attncamp::launch {

std::shared_ptr<data::TensorPool> host_pool(Device device) {
  return std::make_shared<data::TensorPool>(16, !device.is_cpu());
}

std::unique_ptr<data::DeviceFeeder> memory_feeder(const data::ClassificationData& data,
                                                  std::vector<std::vector<int64_t>> plan, Device device,
                                                  std::shared_ptr<data::TensorPool> pool) {
  return std::make_unique<data::DeviceFeeder>(
      device,
      [&data, rows = std::move(plan), next = size_t{0}, pool](data::Batch& b) mutable {
        if (next >= rows.size()) return false;
        b = gather_batch(data, rows[next], pool.get());
        b.number = static_cast<int64_t>(next++);
        return true;
      },
      [pool](data::Batch&& b) { pool->give(std::move(b.inputs)); });
}

namespace {

// The training set: synthetic, read whole into memory, or (stream) opened for the loader, each
// rank reading only its own samples.
void load_train_set(const config::Experiment& e, RunData& d) {
  const auto& dc = e.data();
  const auto& tc = e.trainer();
  const int64_t synthetic = dc.synthetic_samples();
  const int64_t size = e.model().image_size(), channels = e.model().in_channels();
  if (d.stream) {
    data::ClassificationAugment aug;
    aug.size = static_cast<int>(size);
    aug.train = true;
    aug.random_resized_crop = dc.augment();
    aug.flip = dc.augment();
    d.source = std::make_shared<data::ClassificationSource>(dc.train_path(), aug, tc.seed());
    d.train.num_classes = d.source->reader().num_classes();
    d.train.path = dc.train_path();
  } else {
    d.train = synthetic > 0
                  ? data::make_synthetic_classification(synthetic, size, channels, e.model().num_classes(), tc.seed())
                  : data::load_classification(dc.train_path());
  }
}

// The test set, if the experiment has one. Streaming runs evaluate through the loader as well:
// resize the shorter side (to image_size, or image_size / 0.875 with data.augment, as ImageNet
// recipes do) and centre-crop.
void load_test_set(const config::Experiment& e, RunData& d) {
  const auto& dc = e.data();
  const auto& tc = e.trainer();
  const int64_t synthetic = dc.synthetic_samples();
  const int64_t size = e.model().image_size(), channels = e.model().in_channels();
  d.has_test = synthetic > 0 || !dc.test_path().empty();
  if (synthetic > 0) {
    d.test = data::make_synthetic_classification(std::max<int64_t>(1, synthetic / 10), size, channels,
                                                 e.model().num_classes(), tc.seed() + 1);
  } else if (d.has_test && !d.stream) {
    d.test = data::load_classification(dc.test_path());
  }
  if (d.has_test && d.stream) {
    data::ClassificationAugment aug;
    aug.size = static_cast<int>(size);
    aug.train = false;
    aug.eval_resize = dc.augment() ? static_cast<int>(std::lround(size / 0.875)) : static_cast<int>(size);
    d.test_source = std::make_shared<data::ClassificationSource>(dc.test_path(), aug, tc.seed());
  }
}

// The model's number of classes, and the training images' shape against the model's input.
// (The names in the checks' conditions are part of their error messages.)
void check_against_model(const config::Experiment& e, RunData& d) {
  const auto& dc = e.data();
  const int64_t size = e.model().image_size(), channels = e.model().in_channels();
  const data::ClassificationData& train = d.train;
  const int64_t classes = e.model().num_classes() > 0 ? e.model().num_classes() : train.num_classes;
  ATTNCAMP_CHECK(train.num_classes <= classes, train.path, ": has ", train.num_classes,
                 " classes but model.num_classes is ", classes);
  d.classes = classes;
  if (d.stream) {
    const std::shared_ptr<data::ClassificationSource>& source = d.source;
    const int c = source->reader().channels();
    ATTNCAMP_CHECK(c == channels, train.path, ": images have ", c, " channels but the model expects ", channels);
    ATTNCAMP_CHECK(dc.augment() || source->reader().jpeg() ||
                       (source->reader().height() == size && source->reader().width() == size),
                   train.path, ": /images are ", source->reader().height(), "x", source->reader().width(),
                   " but the model expects ", size, "x", size, " (set data.augment to crop and resize)");
  } else {
    const Shape& shp = train.images.shape();
    ATTNCAMP_CHECK(shp[1] == size && shp[2] == size && shp[3] == channels, train.path, ": /images are ", shape_str(shp),
                   " but the model expects [N,", size, ",", size, ",", channels, "]");
  }
}

}  // namespace

RunData load_run_data(const config::Experiment& e) {
  RunData d;
  d.stream = e.data().synthetic_samples() == 0 && e.data().loader_threads() > 0;
  load_train_set(e, d);
  load_test_set(e, d);
  check_against_model(e, d);
  return d;
}

EpochInput TrainingRun::open_epoch_input() {
  const auto& tc = e_.trainer();
  // data::rank_batches leaves out the empty micro-batches, as the step loop skips them.
  std::vector<std::vector<int64_t>> batches =
      data::rank_batches(n_, tc.seed(), st_.epoch, plan_.global_batch, comm_->size(), comm_->rank(), plan_.accumulation,
                         st_.step_in_epoch);
  EpochInput in;
  if (data_.stream) {
    data::LoaderOptions lo;
    lo.threads = e_.data().loader_threads();
    lo.pool = pool_;
    in.loader = std::make_unique<data::Loader>(data_.source, std::move(batches), st_.epoch, lo);
    in.feeder = data::DeviceFeeder::over(*in.loader, prec_.device);
  } else {
    in.feeder = memory_feeder(data_.train, std::move(batches), prec_.device, pool_);
  }
  return in;
}

}  // namespace attncamp::launch
