// ClassificationTask: where its samples come from (synthetic, in memory, or streamed by the
// loader; the test set streamed with resize and centre crop when its stored size is not the
// model's), the cross-entropy step, and evaluation split over ranks and all-reduced.
#include "launch/classification_task.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/sampler.h"
#include "data/shard_reader.h"
#include "data/synthetic.h"
#include "ops/cross_entropy.h"
#include "ops/reduce.h"

namespace attncamp::launch {

models::VitConfig vit_config_from(const config::Experiment& e, int64_t data_classes) {
  const config::VitConfig& m = e.model().vit();
  const config::ClassificationDataConfig& d = e.data().classification();
  models::VitConfig c;
  c.image_size = m.image_size();
  c.channels = m.in_channels();
  c.patch = m.patch_size();
  c.dim = m.dim();
  c.depth = m.depth();
  c.heads = m.heads();
  c.mlp_dim = m.mlp_dim();
  c.num_classes = m.num_classes() > 0 ? m.num_classes() : data_classes;
  c.pooling =
      m.pool() == config::VitConfig::ATTENTION_POOL ? models::Pooling::kAttention : models::Pooling::kClassToken;
  c.attn_pool_dim = m.attn_pool_dim();
  c.dropout = m.dropout();
  c.pixel_mean.assign(d.mean().begin(), d.mean().end());
  c.pixel_std.assign(d.std().begin(), d.std().end());
  if (c.pixel_mean.empty()) c.pixel_mean = {0.0};
  if (c.pixel_std.empty()) c.pixel_std = {1.0};
  return c;
}

data::Batch gather_batch(const data::ClassificationData& data, const std::vector<int64_t>& rows,
                         data::TensorPool* pool) {
  const Shape& s = data.images.shape();
  const auto n = static_cast<int64_t>(rows.size());
  const int64_t sample = s[1] * s[2] * s[3];
  data::Batch b;
  b.indices = rows;
  b.inputs = pool != nullptr ? pool->take({n, s[1], s[2], s[3]}, DType::kU8)
                             : Tensor::empty({n, s[1], s[2], s[3]}, DType::kU8);
  b.labels = Tensor::empty({n}, DType::kI32);
  const uint8_t* src = data.images.data<uint8_t>();
  const int32_t* lab = data.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = rows[static_cast<size_t>(i)];
    std::memcpy(b.inputs.data<uint8_t>() + i * sample, src + j * sample, static_cast<size_t>(sample));
    b.labels.data<int32_t>()[i] = lab[j];
  }
  return b;
}

namespace {

// Feeds the batches `plan` of in-memory `data` (gathered on the calling thread) to `device`.
// `data` must outlive the feeder.
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

// Batches of `batch` consecutive samples of this rank's contiguous part of the first n samples.
std::vector<std::vector<int64_t>> eval_plan(int64_t n, int64_t batch, Communicator* comm) {
  const data::Range mine = comm != nullptr ? data::split_range(n, comm->size(), comm->rank()) : data::Range{0, n};
  std::vector<std::vector<int64_t>> plan;
  for (int64_t b = mine.begin; b < mine.end; b += batch) {
    plan.emplace_back();
    for (int64_t i = b; i < std::min(mine.end, b + batch); ++i) plan.back().push_back(i);
  }
  return plan;
}

int64_t plan_samples(const std::vector<std::vector<int64_t>>& plan) {
  int64_t k = 0;
  for (const auto& b : plan) k += static_cast<int64_t>(b.size());
  return k;
}

}  // namespace

ClassificationTask::ClassificationTask(const config::Experiment& e, const Precision& p, TaskData what) : e_(e) {
  const config::ClassificationDataConfig& cc = e_.data().classification();
  stream_ = cc.synthetic_samples() == 0 && e_.data().loader_threads() > 0;
  if (what == TaskData::kTrainAndEval) load_train_set();
  load_test_set();
  check_against_model();
  model_ = std::make_unique<models::VisionTransformer>(vit_config_from(e_, classes_), DType::kF32, p.device, p.compute);
}

// The training set: synthetic, read whole into memory, or (stream_) opened for the loader, each
// rank reading only its own samples.
void ClassificationTask::load_train_set() {
  const config::DataConfig& dc = e_.data();
  const config::ClassificationDataConfig& cc = dc.classification();
  const config::VitConfig& m = e_.model().vit();
  const int64_t synthetic = cc.synthetic_samples();
  if (stream_) {
    data::ClassificationAugment aug;
    aug.size = m.image_size();
    aug.train = true;
    aug.random_resized_crop = cc.augment();
    aug.flip = cc.augment();
    source_ = std::make_shared<data::ClassificationSource>(dc.train_path(), aug, e_.trainer().seed());
    train_.num_classes = source_->reader().num_classes();
    train_.path = dc.train_path();
  } else {
    train_ = synthetic > 0 ? data::make_synthetic_classification(synthetic, m.image_size(), m.in_channels(),
                                                                 m.num_classes(), e_.trainer().seed())
                           : data::load_classification(dc.train_path());
  }
}

// The test set, if the experiment has one: read whole when the training set is and its images
// have the model's size, otherwise streamed through the loader with the evaluation transform
// (shorter side resized to image_size / eval_crop, then the centre image_size x image_size).
void ClassificationTask::load_test_set() {
  const config::DataConfig& dc = e_.data();
  const config::ClassificationDataConfig& cc = dc.classification();
  const config::VitConfig& m = e_.model().vit();
  const int64_t synthetic = cc.synthetic_samples();
  has_test_ = synthetic > 0 || !dc.test_path().empty();
  if (synthetic > 0) {
    test_ = data::make_synthetic_classification(std::max<int64_t>(1, synthetic / 10), m.image_size(), m.in_channels(),
                                                m.num_classes(), e_.trainer().seed() + 1);
    return;
  }
  if (!has_test_) return;
  bool whole = !stream_;
  if (whole) {
    const data::ClassificationShardReader peek(dc.test_path());
    whole = !peek.jpeg() && peek.height() == m.image_size() && peek.width() == m.image_size();
  }
  if (whole) {
    test_ = data::load_classification(dc.test_path());
    return;
  }
  data::ClassificationAugment aug;
  aug.size = m.image_size();
  aug.train = false;
  aug.eval_resize = static_cast<int>(std::lround(m.image_size() / cc.eval_crop()));
  test_source_ = std::make_shared<data::ClassificationSource>(dc.test_path(), aug, e_.trainer().seed());
  test_.path = dc.test_path();
  test_.num_classes = std::static_pointer_cast<const data::ClassificationSource>(test_source_)->reader().num_classes();
}

// The model's number of classes, and the training images' shape against the model's input.
void ClassificationTask::check_against_model() {
  const config::VitConfig& m = e_.model().vit();
  const int64_t size = m.image_size(), channels = m.in_channels();
  const bool train = !train_.path.empty();
  const data::ClassificationData& files = train ? train_ : test_;
  const int64_t classes = m.num_classes() > 0 ? m.num_classes() : files.num_classes;
  ATTNCAMP_CHECK(files.num_classes <= classes, files.path, ": has ", files.num_classes,
                 " classes but model.vit.num_classes is ", classes);
  ATTNCAMP_CHECK(classes > 0, files.path.empty() ? std::string("the data") : files.path,
                 ": no classes (set model.vit.num_classes)");
  classes_ = classes;
  if (!train) return;
  if (stream_) {
    const data::ClassificationShardReader& r = source_->reader();
    ATTNCAMP_CHECK(r.channels() == channels, train_.path, ": images have ", r.channels(),
                   " channels but model.vit.in_channels is ", channels);
    ATTNCAMP_CHECK(e_.data().classification().augment() || r.jpeg() || (r.height() == size && r.width() == size),
                   train_.path, ": /images are ", r.height(), "x", r.width(), " but the model expects ", size, "x",
                   size, " (set data.classification.augment to crop and resize)");
  } else {
    const Shape& shp = train_.images.shape();
    ATTNCAMP_CHECK(shp[1] == size && shp[2] == size && shp[3] == channels, train_.path, ": /images are ",
                   shape_str(shp), " but the model expects [N,", size, ",", size, ",", channels,
                   "] (stream it with data.loader_threads > 0 to resize, or data.classification.augment to crop)");
  }
}

int64_t ClassificationTask::train_size() const { return stream_ ? source_->size() : train_.labels.numel(); }

std::string ClassificationTask::train_source() const { return train_.path; }

EpochInput ClassificationTask::open_training(std::vector<std::vector<int64_t>> plan, int64_t epoch, Device device,
                                             std::shared_ptr<data::TensorPool> pool) {
  EpochInput in;
  if (stream_) {
    data::LoaderOptions lo;
    lo.threads = e_.data().loader_threads();
    lo.pool = std::move(pool);
    in.loader = std::make_unique<data::Loader>(source_, std::move(plan), epoch, lo);
    in.feeder = data::DeviceFeeder::over(*in.loader, device);
  } else {
    in.feeder = memory_feeder(train_, std::move(plan), device, std::move(pool));
  }
  return in;
}

double ClassificationTask::train_batch(const data::Batch& batch, const models::ForwardContext& ctx, double grad_scale) {
  const Tensor& logits = model_->forward(batch.inputs, ctx);
  models::ensure_tensor(losses_, {logits.size(0)}, models::stat_dtype(logits), logits.device());
  models::ensure_like(dlogits_, logits.shape(), logits);
  ops::cross_entropy_forward_backward(logits, batch.labels, e_.model().vit().label_smoothing(), grad_scale, losses_,
                                      dlogits_);
  const double loss_sum = ops::sum(losses_);
  model_->backward(dlogits_);
  return loss_sum;
}

std::vector<std::string> ClassificationTask::metrics() { return {"test/top1", "test/top5", "test/loss"}; }

config::Experiment ClassificationTask::with_synthetic_data(const config::Experiment& e, int64_t samples) {
  config::Experiment b = e;
  config::VitConfig& vit = *b.mutable_model()->mutable_vit();
  if (vit.num_classes() == 0) vit.set_num_classes(10);
  config::ClassificationDataConfig& data = *b.mutable_data()->mutable_classification();
  data.set_synthetic_samples(samples);
  data.set_augment(false);
  b.mutable_data()->set_loader_threads(0);
  return b;
}

EvalResult ClassificationTask::evaluate_batches(data::DeviceFeeder& feeder, int64_t n, int64_t expected,
                                                Communicator* comm) {
  const int64_t classes = model_->num_classes();
  Tensor losses, none;
  data::Batch batch;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0, seen = 0;
  while (feeder.next(batch)) {
    const Tensor& logits = model_->forward(batch.inputs, models::ForwardContext{});
    models::ensure_tensor(losses, {batch.labels.numel()}, models::stat_dtype(logits), logits.device());
    ops::cross_entropy_forward_backward(logits, batch.labels, 0.0, 1.0, losses, none);
    loss_sum += ops::sum(losses);
    top1 += ops::count_topk_correct(logits, batch.labels, 1);
    top5 += ops::count_topk_correct(logits, batch.labels, static_cast<int>(std::min<int64_t>(5, classes)));
    seen += batch.labels.numel();
  }
  ATTNCAMP_CHECK(seen == expected, "evaluation saw ", seen, " samples where this rank's part has ", expected);
  if (comm != nullptr && comm->size() > 1) {
    Tensor t = Tensor::empty({3}, DType::kF64);
    t.data<double>()[0] = loss_sum;
    t.data<double>()[1] = static_cast<double>(top1);
    t.data<double>()[2] = static_cast<double>(top5);
    comm->all_reduce(t, ReduceOp::kSum)->wait();
    loss_sum = t.data<double>()[0];
    top1 = static_cast<int64_t>(t.data<double>()[1]);
    top5 = static_cast<int64_t>(t.data<double>()[2]);
  }
  const double count = static_cast<double>(n);
  EvalResult r;
  r.count = n;
  r.set("test/top1", n > 0 ? static_cast<double>(top1) / count : 0);
  r.set("test/top5", n > 0 ? static_cast<double>(top5) / count : 0);
  r.set("test/loss", n > 0 ? loss_sum / count : 0);
  return r;
}

EvalResult ClassificationTask::evaluate(Communicator* comm) {
  ATTNCAMP_CHECK(has_test_, "no test set to evaluate: set data.test_path");
  const auto& tc = e_.trainer();
  const int64_t size = test_source_ ? test_source_->size() : test_.labels.numel();
  const int64_t n = tc.eval_limit() > 0 ? std::min(tc.eval_limit(), size) : size;
  std::vector<std::vector<int64_t>> plan = eval_plan(n, tc.eval_batch_size(), comm);
  const int64_t expected = plan_samples(plan);
  const Device device = model_->params().device();
  if (!test_source_) {
    const auto feeder = memory_feeder(test_, std::move(plan), device, host_pool(device));
    return evaluate_batches(*feeder, n, expected, comm);
  }
  data::LoaderOptions lo;
  lo.threads = std::max(1, e_.data().loader_threads());
  lo.pool = host_pool(device);
  data::Loader loader(test_source_, std::move(plan), 0, lo);
  const auto feeder = data::DeviceFeeder::over(loader, device);
  return evaluate_batches(*feeder, n, expected, comm);
}

std::string ClassificationTask::summary(const EvalResult& r) const {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "test loss %.4f, top-1 %.2f%%, top-5 %.2f%%", r.at("test/loss"),
                100 * r.at("test/top1"), 100 * r.at("test/top5"));
  return buf;
}

}  // namespace attncamp::launch
