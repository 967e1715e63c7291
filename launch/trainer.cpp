// Trainer's public entry points: the model config from an experiment, batch gathering,
// evaluation (in-memory or streamed, split over ranks and all-reduced) and Trainer::run, which
// hands the run to TrainingRun (trainer_internal.h; the loop is in trainer_run.cpp).
#include "launch/trainer.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/checkpoint.h"
#include "data/device_feeder.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "launch/trainer_internal.h"
#include "ops/cross_entropy.h"
#include "ops/reduce.h"

namespace attncamp::launch {

namespace fs = std::filesystem;

models::VitConfig vit_config_from(const config::Experiment& e, int64_t data_classes) {
  const auto& m = e.model();
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
      m.pool() == config::ModelConfig::ATTENTION_POOL ? models::Pooling::kAttention : models::Pooling::kClassToken;
  c.attn_pool_dim = m.attn_pool_dim();
  c.dropout = m.dropout();
  c.pixel_mean = e.data().mean();
  c.pixel_std = e.data().std();
  return c;
}

void set_cpu_threads(int threads) {
  if (threads <= 0) return;
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

std::string checkpoint_path(const std::string& output_dir) { return (fs::path(output_dir) / "checkpoint.h5").string(); }

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

// Evaluation over the batches `feeder` delivers (this rank's part of the first n samples, `expected`
// of them). Sums are all-reduced over ranks.
EvalResult evaluate_batches(models::VisionTransformer& model, data::DeviceFeeder& feeder, int64_t n, int64_t expected,
                            Communicator* comm) {
  const int64_t classes = model.config().num_classes;
  EvalResult r;
  Tensor losses, none;
  data::Batch batch;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0, seen = 0;
  while (feeder.next(batch)) {
    const Tensor& logits = model.forward(batch.inputs, models::ForwardContext{});
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
  r.count = n;
  r.loss = n > 0 ? loss_sum / static_cast<double>(n) : 0;
  r.top1 = n > 0 ? static_cast<double>(top1) / static_cast<double>(n) : 0;
  r.top5 = n > 0 ? static_cast<double>(top5) / static_cast<double>(n) : 0;
  return r;
}

int64_t plan_samples(const std::vector<std::vector<int64_t>>& plan) {
  int64_t k = 0;
  for (const auto& b : plan) k += static_cast<int64_t>(b.size());
  return k;
}

}  // namespace

EvalResult evaluate(models::VisionTransformer& model, const data::ClassificationData& data, int64_t batch,
                    int64_t limit, Communicator* comm) {
  const int64_t n = limit > 0 ? std::min(limit, data.labels.numel()) : data.labels.numel();
  std::vector<std::vector<int64_t>> plan = eval_plan(n, batch, comm);
  const int64_t expected = plan_samples(plan);
  const Device device = model.params().device();
  const auto feeder = memory_feeder(data, std::move(plan), device, host_pool(device));
  return evaluate_batches(model, *feeder, n, expected, comm);
}

EvalResult evaluate(models::VisionTransformer& model, const std::shared_ptr<const data::BatchSource>& source,
                    int64_t batch, int64_t limit, Communicator* comm, int threads) {
  const int64_t n = limit > 0 ? std::min(limit, source->size()) : source->size();
  std::vector<std::vector<int64_t>> plan = eval_plan(n, batch, comm);
  const int64_t expected = plan_samples(plan);
  const Device device = model.params().device();
  data::LoaderOptions lo;
  lo.threads = std::max(1, threads);
  lo.pool = host_pool(device);
  data::Loader loader(source, std::move(plan), 0, lo);
  const auto feeder = data::DeviceFeeder::over(loader, device);
  return evaluate_batches(model, *feeder, n, expected, comm);
}

void load_parameters(const data::CheckpointData& c, const std::string& path, models::VisionTransformer& model) {
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
