// Trainer implementation. Determinism: the sample order comes from
// (seed, epoch), dropout masks from (seed, step), kernels use static
// schedules; so a run resumed from a checkpoint reproduces the losses of an
// uninterrupted run exactly.
#include "launch/trainer.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/checkpoint.h"
#include "data/device_feeder.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "data/synthetic.h"
#include "launch/config.h"
#include "launch/distributed.h"
#include "launch/precision.h"
#include "launch/progress.h"
#include "launch/schedule.h"
#include "launch/tensorboard.h"
#include "models/optimizer.h"
#include "ops/attention.h"
#include "ops/clip_grad.h"
#include "ops/cross_entropy.h"
#include "ops/reduce.h"
#include "runtime/ddp.h"

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

// Host batches for a GPU come from page-locked buffers, so their uploads overlap with compute.
std::shared_ptr<data::TensorPool> host_pool(Device device) {
  return std::make_shared<data::TensorPool>(16, !device.is_cpu());
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

// Feeds the batches `plan` of in-memory `data` (gathered on the calling thread) to `device`.
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

namespace {

struct LoopState {
  int64_t step = 0;           // global steps completed
  int64_t epoch = 0;          // epoch in progress (0-based)
  int64_t step_in_epoch = 0;  // steps of `epoch` already done
  double best_top1 = -1;
  int64_t bad_epochs = 0;
};

void save_checkpoint(const std::string& path, models::VisionTransformer& model, const models::Optimizer& opt,
                     const LoopState& st, const config::Experiment& e, const BatchPlan& plan) {
  data::CheckpointData c;
  c.tensors["params"] = model.params().values().to(Device::cpu());
  for (const auto& [name, t] : opt.state()) c.tensors["optimizer/" + name] = t.to(Device::cpu());
  c.ints["step"] = st.step;
  c.ints["epoch"] = st.epoch;
  c.ints["step_in_epoch"] = st.step_in_epoch;
  c.ints["optimizer_steps"] = opt.steps_taken();
  c.ints["bad_epochs"] = st.bad_epochs;
  c.ints["world_size"] = plan.world;
  c.ints["global_batch"] = plan.global_batch;
  c.ints["seed"] = static_cast<int64_t>(e.trainer().seed());
  c.floats["best_top1"] = st.best_top1;
  c.strings["config"] = config_to_text(e);
  data::write_checkpoint(path, c);
}

// Per-rank batch of a checkpoint written before global_batch was recorded (its config's batch_size).
int64_t e_batch_hint(const data::CheckpointData& c) {
  const auto it = c.strings.find("config");
  if (it == c.strings.end()) return 0;
  return parse_config_text(it->second, "checkpoint config").trainer().batch_size();
}

LoopState load_checkpoint(const std::string& path, models::VisionTransformer& model, models::Optimizer& opt,
                          const BatchPlan& plan) {
  const data::CheckpointData c = data::read_checkpoint(path);
  load_parameters(c, path, model);
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : c.tensors) {
    if (name.rfind("optimizer/", 0) == 0) state[name.substr(10)] = t;
  }
  opt.load_state(state, data::get_int(c, "optimizer_steps", path), "checkpoint " + path);
  // The sample order of a step depends on the global batch only, so a run may resume on another
  // number of ranks as long as the global batch is the same.
  const int64_t world = data::get_int(c, "world_size", path);
  const auto gb = c.ints.find("global_batch");
  const int64_t global_batch = gb != c.ints.end() ? gb->second : world * e_batch_hint(c);
  ATTNCAMP_CHECK(global_batch == plan.global_batch, "checkpoint ", path, ": written with global batch ", global_batch,
                 " (", world, " ranks) but this run has ", plan.str(), "; set trainer.global_batch=", global_batch,
                 " to resume it");
  LoopState st;
  st.step = data::get_int(c, "step", path);
  st.epoch = data::get_int(c, "epoch", path);
  st.step_in_epoch = data::get_int(c, "step_in_epoch", path);
  st.bad_epochs = data::get_int(c, "bad_epochs", path);
  st.best_top1 = data::get_float(c, "best_top1", path);
  return st;
}

models::OptimizerSettings optimizer_settings(const config::OptimizerConfig& o) {
  models::OptimizerSettings s;
  s.kind = o.kind() == config::OptimizerConfig::SGD ? models::OptimizerSettings::Kind::kSgd
                                                    : models::OptimizerSettings::Kind::kAdamW;
  s.beta1 = o.beta1();
  s.beta2 = o.beta2();
  s.eps = o.eps();
  s.weight_decay = o.weight_decay();
  s.momentum = o.momentum();
  s.nesterov = o.nesterov();
  return s;
}

// A rank's non-finite flag for the summed step report: 2^rank for the first 52 ranks (sums of
// distinct powers of two are exact in a double, so the sum names every rank), 2^52 beyond.
double nonfinite_flag(int rank) { return std::ldexp(1.0, std::min(rank, 52)); }

// "rank 1" / "ranks 0, 3" from a summed flag.
std::string nonfinite_ranks(double flags, int world) {
  std::string out;
  int count = 0;
  for (int r = 0; r < std::min(world, 52); ++r) {
    if (std::fmod(std::floor(std::ldexp(flags, -r)), 2.0) != 0) out += (count++ ? ", " : "") + std::to_string(r);
  }
  if (flags >= std::ldexp(1.0, 52)) out += std::string(count++ ? ", " : "") + "a rank >= 52";
  if (count == 0) return "some rank";
  return (count == 1 ? "rank " : "ranks ") + out;
}

// Name of the first parameter whose gradient holds Inf or NaN ("" if none).
std::string first_nonfinite_gradient(models::ParamStore& store) {
  for (const auto& p : store.params()) {
    if (!std::isfinite(ops::global_norm(p->grad.view({shape_numel(p->shape)})))) return p->name;
  }
  return "(none)";
}

std::string fmt(const char* format, double a, double b = 0, double c = 0, double d = 0) {
  char buf[512];
  std::snprintf(buf, sizeof(buf), format, a, b, c, d);
  return buf;
}

}  // namespace

TrainResult Trainer::run(const std::string& resume, Communicator* given_comm) {
  const auto& tc = e_.trainer();
  set_cpu_threads(tc.threads());
  install_stop_signals();
  Precision prec = precision_from(e_, source_);
  CommOptions copt;
  copt.timeout_s = tc.collective_timeout_s();
  copt.check_consistency = !tc.skip_collective_checks();
  std::unique_ptr<Communicator> own_comm;
  if (given_comm == nullptr) own_comm = make_communicator(prec.device, copt);
  Communicator& comm = given_comm != nullptr ? *given_comm : *own_comm;
  const bool lead = comm.rank() == 0;
  if (!prec.device.is_cpu() && comm.size() > 1) prec.device = Device::cuda(comm.local_rank());
  const BatchPlan plan = batch_plan(tc, comm.size(), comm.rank());

  const auto& dc = e_.data();
  const int64_t synthetic = dc.synthetic_samples();
  const int64_t size = e_.model().image_size(), channels = e_.model().in_channels();
  // The training set: synthetic, read whole into memory, or (data.loader_threads > 0) streamed
  // from its file by the prefetching loader, each rank reading only its own samples.
  const bool stream = synthetic == 0 && dc.loader_threads() > 0;
  std::shared_ptr<data::ClassificationSource> source;
  data::ClassificationData train;
  if (stream) {
    data::ClassificationAugment aug;
    aug.size = static_cast<int>(size);
    aug.train = true;
    aug.random_resized_crop = dc.augment();
    aug.flip = dc.augment();
    source = std::make_shared<data::ClassificationSource>(dc.train_path(), aug, tc.seed());
    train.num_classes = source->reader().num_classes();
    train.path = dc.train_path();
  } else {
    train = synthetic > 0
                ? data::make_synthetic_classification(synthetic, size, channels, e_.model().num_classes(), tc.seed())
                : data::load_classification(dc.train_path());
  }
  data::ClassificationData test;
  const bool has_test = synthetic > 0 || !dc.test_path().empty();
  if (synthetic > 0) {
    test = data::make_synthetic_classification(std::max<int64_t>(1, synthetic / 10), size, channels,
                                               e_.model().num_classes(), tc.seed() + 1);
  } else if (has_test && !stream) {
    test = data::load_classification(dc.test_path());
  }
  // Streaming runs evaluate through the loader as well: resize the shorter side (to image_size,
  // or image_size / 0.875 with data.augment, as ImageNet recipes do) and centre-crop.
  std::shared_ptr<const data::BatchSource> test_source;
  if (has_test && stream) {
    data::ClassificationAugment aug;
    aug.size = static_cast<int>(size);
    aug.train = false;
    aug.eval_resize = dc.augment() ? static_cast<int>(std::lround(size / 0.875)) : static_cast<int>(size);
    test_source = std::make_shared<data::ClassificationSource>(dc.test_path(), aug, tc.seed());
  }

  const int64_t classes = e_.model().num_classes() > 0 ? e_.model().num_classes() : train.num_classes;
  ATTNCAMP_CHECK(train.num_classes <= classes, train.path, ": has ", train.num_classes,
                 " classes but model.num_classes is ", classes);
  if (stream) {
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

  const std::unique_ptr<models::VisionTransformer> model_ptr = make_model(e_, classes, prec);
  models::VisionTransformer& model = *model_ptr;
  model.initialize(tc.seed());
  models::ParamStore& store = model.params();
  broadcast_parameters(comm, store.values());
  store.sync_compute();
  std::vector<ParamRange> ranges;
  for (const auto& p : store.params()) ranges.push_back(ParamRange{p->offset, shape_numel(p->shape)});
  GradientReducer reducer(comm, store.grads(), ranges, tc.bucket_mb());
  store.set_grad_ready_hook([&reducer](int i) { reducer.mark_ready(i); });
  models::Optimizer opt(store, optimizer_settings(e_.optimizer()));
  LossScaler scaler(prec.compute == DType::kF16);

  const std::string out_dir = tc.output_dir().empty() ? "runs/" + e_.name() : tc.output_dir();
  fs::create_directories(out_dir);
  const std::string ckpt = checkpoint_path(out_dir);
  const std::string metrics = (fs::path(out_dir) / "metrics.jsonl").string();
  if (lead) {
    const std::string cfg_path = (fs::path(out_dir) / "config.pbtxt").string();
    std::ofstream f(cfg_path);
    ATTNCAMP_CHECK(f.good(), "cannot write ", cfg_path);
    f << config_to_text(e_);
  }

  LoopState st;
  std::string resume_from = resume;
  if (resume == "auto") resume_from = fs::exists(ckpt) ? ckpt : "";
  if (!resume_from.empty()) {
    st = load_checkpoint(resume_from, model, opt, plan);
    if (lead) {
      std::fprintf(stderr, "resumed from %s at step %ld (epoch %ld)\n", resume_from.c_str(), static_cast<long>(st.step),
                   static_cast<long>(st.epoch + 1));
    }
  }

  const int64_t n = stream ? source->size() : train.labels.numel();
  const int64_t gbatch = plan.global_batch;
  const int64_t steps_per_epoch = (n + gbatch - 1) / gbatch;
  const int64_t epochs = tc.epochs();
  Schedule sched;
  sched.base_lr = e_.optimizer().lr();
  sched.min_lr = e_.optimizer().min_lr();
  sched.total_steps = epochs * steps_per_epoch;
  sched.warmup_steps = static_cast<int64_t>(std::llround(e_.optimizer().warmup_epochs() * steps_per_epoch));
  sched.cosine = e_.optimizer().schedule() == config::OptimizerConfig::COSINE;
  const int64_t last_step = tc.max_steps() > 0 ? std::min(tc.max_steps(), sched.total_steps) : sched.total_steps;
  const int64_t eval_batch = tc.eval_batch_size();
  auto run_eval = [&]() {
    return test_source ? evaluate(model, test_source, eval_batch, tc.eval_limit(), &comm, dc.loader_threads())
                       : evaluate(model, test, eval_batch, tc.eval_limit(), &comm);
  };

  if (lead) {
    std::fprintf(stderr,
                 "training %s: %ld parameters, %ld samples, %s, %ld steps/epoch, %ld epochs, %s %s, %s backend, %d "
                 "threads\n",
                 e_.name().c_str(), static_cast<long>(store.numel()), static_cast<long>(n), plan.str().c_str(),
                 static_cast<long>(steps_per_epoch), static_cast<long>(epochs), prec.device.str().c_str(),
                 prec.name.c_str(), comm.backend().c_str(), omp_get_max_threads());
  }

  // Outputs: rank 0 writes metrics, TensorBoard events and checkpoints; with log_every_rank each
  // rank also writes its own plain log.
  std::unique_ptr<EventWriter> events;
  std::ofstream metrics_log, rank_log;
  if (lead) {
    events = std::make_unique<EventWriter>(out_dir);
    metrics_log.open(metrics, std::ios::app);
    ATTNCAMP_CHECK(metrics_log.good(), "cannot write ", metrics);
  }
  if (tc.log_every_rank()) {
    const std::string path = (fs::path(out_dir) / ("rank" + std::to_string(comm.rank()) + ".log")).string();
    rank_log.open(path, std::ios::app);
    ATTNCAMP_CHECK(rank_log.good(), "cannot write ", path);
  }
  TrainResult result;
  Progress progress(last_step, lead ? tc.log_every_steps() : 0, lead);
  Tensor losses, dlogits;
  // Host batches come from one pool across epochs (page-locked when training on a GPU).
  const std::shared_ptr<data::TensorPool> pool = host_pool(prec.device);
  double step_seconds = 0, wait_seconds = 0;
  size_t autotune_lines = 0;  // of ops::attention_autotune_report() printed
  bool stop = st.step >= last_step;
  while (!stop && st.epoch < epochs && st.step < last_step) {
    // This rank's micro-batches of the epoch in the loop's order (data::rank_batches leaves out
    // the empty ones, as the loop below skips them), read by the loader's workers (streaming) or
    // gathered from memory, and uploaded ahead of the step that uses them.
    std::vector<std::vector<int64_t>> batches = data::rank_batches(n, tc.seed(), st.epoch, gbatch, comm.size(),
                                                                   comm.rank(), plan.accumulation, st.step_in_epoch);
    std::unique_ptr<data::Loader> loader;
    std::unique_ptr<data::DeviceFeeder> feeder;
    if (stream) {
      data::LoaderOptions lo;
      lo.threads = dc.loader_threads();
      lo.pool = pool;
      loader = std::make_unique<data::Loader>(source, std::move(batches), st.epoch, lo);
      feeder = data::DeviceFeeder::over(*loader, prec.device);
    } else {
      feeder = memory_feeder(train, std::move(batches), prec.device, pool);
    }
    progress.begin_epoch(st.epoch, epochs);
    double loss_sum = 0;
    int64_t loss_count = 0;
    for (; st.step_in_epoch < steps_per_epoch; ++st.step_in_epoch) {
      if (st.step >= last_step) {
        stop = true;
        break;
      }
      const auto t0 = std::chrono::steady_clock::now();
      const int64_t gb = st.step_in_epoch * gbatch, count = std::min(n, gb + gbatch) - gb;
      StepReport mine;
      store.zero_grad();
      for (int64_t micro = 0; micro < plan.accumulation; ++micro) {
        const bool last_micro = micro + 1 == plan.accumulation;
        reducer.set_enabled(last_micro);
        const data::Range r = plan.micro_range(count, micro);
        if (r.size() == 0) continue;  // this rank's share of a short last batch is empty
        data::Batch batch;
        ATTNCAMP_CHECK(feeder->next(batch), "input pipeline ran out of batches at step ", st.step + 1);
        ATTNCAMP_CHECK(batch.labels.numel() == r.size(), "input batch of ", batch.labels.numel(),
                       " samples where the plan has ", r.size());
        const Tensor& images = batch.inputs;
        const Tensor& labels = batch.labels;
        const models::ForwardContext ctx{true, tc.seed(), st.step};
        const Tensor& logits = model.forward(images, ctx);
        models::ensure_tensor(losses, {r.size()}, models::stat_dtype(logits), logits.device());
        models::ensure_like(dlogits, logits.shape(), logits);
        // Every sample's loss gradient is scaled by 1/count (the global batch), and the ranks'
        // gradients are summed: the same gradient one rank computes for the whole batch.
        ops::cross_entropy_forward_backward(logits, labels, tc.label_smoothing(),
                                            scaler.scale() / static_cast<double>(count), losses, dlogits);
        const double part = ops::sum(losses);
        if (!std::isfinite(part)) mine.nonfinite = nonfinite_flag(comm.rank());
        mine.loss_sum += part;
        model.backward(dlogits);
      }
      reducer.set_enabled(true);
      wait_seconds += reducer.finish();
      mine.stop = stop_signal() != 0 ? 1 : 0;
      const StepReport all = all_reduce_report(comm, mine);
      const double loss = all.loss_sum / static_cast<double>(count);
      const double lr = sched.lr(st.step);
      bool apply = true;
      if (all.nonfinite > 0 || !std::isfinite(loss)) {
        const std::string ranks = nonfinite_ranks(all.nonfinite, comm.size());
        ATTNCAMP_CHECK(tc.on_nonfinite() == config::TrainerConfig::SKIP_STEP, "loss is not finite at step ",
                       st.step + 1, " on ", ranks, "; lower optimizer.lr, enable optimizer.clip_grad_norm, or set ",
                       "trainer.on_nonfinite: SKIP_STEP");
        if (lead) {
          std::fprintf(stderr, "step %ld: loss is not finite on %s; step skipped on every rank\n",
                       static_cast<long>(st.step + 1), ranks.c_str());
        }
        apply = false;
      } else if (!scaler.unscale_and_check(store.grads())) {
        apply = false;
        if (lead) {
          std::fprintf(stderr, "step %ld: non-finite fp16 gradients, step skipped, loss scale now %g\n",
                       static_cast<long>(st.step + 1), scaler.scale());
        }
      } else {
        // The norm of the all-reduced gradients: the same on every rank, so all agree.
        const double norm = e_.optimizer().clip_grad_norm() > 0
                                ? ops::clip_grad_norm_(store.grads(), e_.optimizer().clip_grad_norm())
                                : ops::global_norm(store.grads());
        if (!std::isfinite(norm)) {
          const std::string which = first_nonfinite_gradient(store);
          ATTNCAMP_CHECK(tc.on_nonfinite() == config::TrainerConfig::SKIP_STEP, "gradient of ", which,
                         " is not finite at step ", st.step + 1, " (after the all-reduce over ", comm.size(),
                         " rank(s)); set trainer.on_nonfinite: SKIP_STEP to skip such steps");
          if (lead) {
            std::fprintf(stderr, "step %ld: gradient of %s is not finite; step skipped on every rank\n",
                         static_cast<long>(st.step + 1), which.c_str());
          }
          apply = false;
        }
      }
      if (apply) {
        opt.step(lr);
      } else {
        ++result.skipped_steps;
      }
      ++st.step;
      step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (std::isfinite(loss)) {
        loss_sum += loss;
        ++loss_count;
      }
      result.step_losses.push_back(loss);
      if (lead) {
        metrics_log << "{\"kind\":\"step\",\"step\":" << st.step << fmt(",\"loss\":%.17g,\"lr\":%.9g}", loss, lr)
                    << "\n";
        events->scalar("train/loss", st.step, loss);
        events->scalar("train/lr", st.step, lr);
      }
      if (rank_log.is_open()) {
        rank_log << "step " << st.step << " rank_loss " << fmt("%.9g", mine.loss_sum) << " global_loss "
                 << fmt("%.9g", loss) << "\n";
      }
      progress.step(st.step - 1, loss, lr, count);
      if (all.stop > 0) {
        // Preemption: every rank saw the same report, so all stop after this step together.
        ++st.step_in_epoch;
        if (st.step_in_epoch >= steps_per_epoch) {
          ++st.epoch;
          st.step_in_epoch = 0;
        }
        if (lead) save_checkpoint(ckpt, model, opt, st, e_, plan);
        comm.barrier();
        result.stop_signal = stop_signal() != 0 ? stop_signal() : SIGTERM;
        if (lead) {
          progress.finish_line();
          std::printf("stop signal received: checkpoint %s written at step %ld; resume with --resume auto\n",
                      ckpt.c_str(), static_cast<long>(st.step));
        }
        result.steps = st.step;
        return result;
      }
    }
    progress.finish_line();
    const bool epoch_done = st.step_in_epoch >= steps_per_epoch;
    EpochRecord rec;
    rec.epoch = st.epoch + 1;
    rec.train_loss = loss_count ? loss_sum / static_cast<double>(loss_count) : 0;
    rec.images_per_second = progress.epoch_rate();
    if (epoch_done) {
      if (has_test) rec.eval = run_eval();
      result.epochs.push_back(rec);
      if (lead) {
        std::printf("epoch %ld/%ld: train loss %.4f, test loss %.4f, top-1 %.2f%%, top-5 %.2f%%, %.0f img/s\n",
                    static_cast<long>(rec.epoch), static_cast<long>(epochs), rec.train_loss, rec.eval.loss,
                    100 * rec.eval.top1, 100 * rec.eval.top5, rec.images_per_second);
        std::fflush(stdout);
        metrics_log << ("{\"kind\":\"epoch\",\"epoch\":" + std::to_string(rec.epoch) +
                        fmt(",\"train_loss\":%.9g,\"test_loss\":%.9g,\"top1\":%.9g,\"top5\":%.9g", rec.train_loss,
                            rec.eval.loss, rec.eval.top1, rec.eval.top5) +
                        fmt(",\"images_per_second\":%.1f}", rec.images_per_second))
                    << "\n";
        events->scalar("train/epoch_loss", st.step, rec.train_loss);
        events->scalar("train/images_per_second", st.step, rec.images_per_second);
        if (has_test) {
          events->scalar("test/loss", st.step, rec.eval.loss);
          events->scalar("test/top1", st.step, rec.eval.top1);
          events->scalar("test/top5", st.step, rec.eval.top5);
        }
        events->flush();
        metrics_log.flush();
        // ATTNCAMP_ATTENTION_AUTOTUNE=1: the attention tile shapes this rank's autotuner chose so far.
        const std::vector<std::string> tuned = ops::attention_autotune_report();
        for (; autotune_lines < tuned.size(); ++autotune_lines) {
          std::printf("attention autotune: %s\n", tuned[autotune_lines].c_str());
        }
        std::fflush(stdout);
      }
      ++st.epoch;
      st.step_in_epoch = 0;
      if (has_test && tc.early_stopping_patience() > 0) {
        if (rec.eval.top1 > st.best_top1) {
          st.best_top1 = rec.eval.top1;
          st.bad_epochs = 0;
        } else if (++st.bad_epochs >= tc.early_stopping_patience()) {
          if (lead) {
            std::printf("early stopping: top-1 has not improved for %ld epochs (best %.2f%%)\n",
                        static_cast<long>(st.bad_epochs), 100 * st.best_top1);
          }
          result.early_stopped = true;
          stop = true;
        }
      }
      const bool periodic = tc.checkpoint_every_epochs() > 0 && st.epoch % tc.checkpoint_every_epochs() == 0;
      if (lead && (periodic || stop || st.epoch >= epochs || st.step >= last_step)) {
        save_checkpoint(ckpt, model, opt, st, e_, plan);
      }
    } else if (lead) {
      save_checkpoint(ckpt, model, opt, st, e_, plan);
    }
  }
  result.steps = st.step;
  result.comm_wait_fraction = step_seconds > 0 ? wait_seconds / step_seconds : 0;
  if (has_test) {
    result.final_eval = result.epochs.empty() || result.epochs.back().epoch != st.epoch || st.step_in_epoch != 0
                            ? run_eval()
                            : result.epochs.back().eval;
    if (lead) {
      std::printf("final test accuracy: top-1 %.2f%%, top-5 %.2f%%, loss %.4f (%ld samples, %ld steps)\n",
                  100 * result.final_eval.top1, 100 * result.final_eval.top5, result.final_eval.loss,
                  static_cast<long>(result.final_eval.count), static_cast<long>(st.step));
    }
  }
  if (lead && comm.size() > 1) {
    std::printf("data parallel: %d ranks, %d gradient buckets, %.1f%% of step time waiting for all-reduces\n",
                comm.size(), reducer.num_buckets(), 100 * result.comm_wait_fraction);
  }
  comm.barrier();  // rank 0's checkpoint is complete before any rank exits
  if (lead) std::printf("checkpoint: %s\n", ckpt.c_str());
  return result;
}

}  // namespace attncamp::launch
