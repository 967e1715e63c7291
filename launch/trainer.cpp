// Trainer implementation. Determinism: the sample order comes from
// (seed, epoch), dropout masks from (seed, step), kernels use static
// schedules; so a run resumed from a checkpoint reproduces the losses of an
// uninterrupted run exactly.
#include "launch/trainer.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/checkpoint.h"
#include "data/sampler.h"
#include "launch/config.h"
#include "launch/progress.h"
#include "launch/schedule.h"
#include "launch/tensorboard.h"
#include "models/optimizer.h"
#include "ops/clip_grad.h"
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

void gather_batch(const data::ClassificationData& data, const std::vector<int64_t>& indices, int64_t begin, int64_t end,
                  Tensor& images, Tensor& labels) {
  const Shape& s = data.images.shape();
  const int64_t n = end - begin;
  const int64_t sample = s[1] * s[2] * s[3];
  models::ensure_tensor(images, {n, s[1], s[2], s[3]}, DType::kU8);
  models::ensure_tensor(labels, {n}, DType::kI32);
  const uint8_t* src = data.images.data<uint8_t>();
  const int32_t* lab = data.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = indices.empty() ? begin + i : indices[begin + i];
    std::memcpy(images.data<uint8_t>() + i * sample, src + j * sample, static_cast<size_t>(sample));
    labels.data<int32_t>()[i] = lab[j];
  }
}

EvalResult evaluate(models::VisionTransformer& model, const data::ClassificationData& data, int64_t batch,
                    int64_t limit) {
  const int64_t n = limit > 0 ? std::min(limit, data.labels.numel()) : data.labels.numel();
  const int64_t classes = model.config().num_classes;
  EvalResult r;
  Tensor images, labels, losses;
  Tensor none;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0;
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min(n, b + batch);
    gather_batch(data, {}, b, e, images, labels);
    const Tensor& logits = model.forward(images, models::ForwardContext{});
    models::ensure_tensor(losses, {e - b}, logits.dtype());
    ops::cross_entropy_forward_backward(logits, labels, 0.0, 1.0, losses, none);
    loss_sum += ops::sum(losses);
    top1 += ops::count_topk_correct(logits, labels, 1);
    top5 += ops::count_topk_correct(logits, labels, static_cast<int>(std::min<int64_t>(5, classes)));
  }
  r.count = n;
  r.loss = n > 0 ? loss_sum / static_cast<double>(n) : 0;
  r.top1 = n > 0 ? static_cast<double>(top1) / static_cast<double>(n) : 0;
  r.top5 = n > 0 ? static_cast<double>(top5) / static_cast<double>(n) : 0;
  return r;
}

void load_parameters(const data::CheckpointData& c, const std::string& path, models::VisionTransformer& model) {
  Tensor& values = model.params().values();
  values.copy_from(data::get_tensor(c, "params", path, values.shape(), values.dtype()));
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
                     const LoopState& st, const config::Experiment& e) {
  data::CheckpointData c;
  c.tensors["params"] = model.params().values();
  for (const auto& [name, t] : opt.state()) c.tensors["optimizer/" + name] = t;
  c.ints["step"] = st.step;
  c.ints["epoch"] = st.epoch;
  c.ints["step_in_epoch"] = st.step_in_epoch;
  c.ints["optimizer_steps"] = opt.steps_taken();
  c.ints["bad_epochs"] = st.bad_epochs;
  c.ints["world_size"] = 1;
  c.ints["seed"] = static_cast<int64_t>(e.trainer().seed());
  c.floats["best_top1"] = st.best_top1;
  c.strings["config"] = config_to_text(e);
  data::write_checkpoint(path, c);
}

LoopState load_checkpoint(const std::string& path, models::VisionTransformer& model, models::Optimizer& opt) {
  const data::CheckpointData c = data::read_checkpoint(path);
  load_parameters(c, path, model);
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : c.tensors) {
    if (name.rfind("optimizer/", 0) == 0) state[name.substr(10)] = t;
  }
  opt.load_state(state, data::get_int(c, "optimizer_steps", path), "checkpoint " + path);
  const int64_t world = data::get_int(c, "world_size", path);
  ATTNCAMP_CHECK(world == 1, "checkpoint ", path, ": written by ", world,
                 " ranks; this build resumes single-process checkpoints only");
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

std::string fmt(const char* format, double a, double b = 0, double c = 0, double d = 0) {
  char buf[512];
  std::snprintf(buf, sizeof(buf), format, a, b, c, d);
  return buf;
}

}  // namespace

TrainResult Trainer::run(const std::string& resume) {
  const auto& tc = e_.trainer();
  set_cpu_threads(tc.threads());
  ATTNCAMP_CHECK(tc.device().empty() || tc.device() == "cpu", source_, ": trainer.device \"", tc.device(),
                 "\" is not available in this build (CUDA training arrives with the CUDA backend); use \"cpu\"");

  const data::ClassificationData train = data::load_classification(e_.data().train_path());
  data::ClassificationData test;
  const bool has_test = !e_.data().test_path().empty();
  if (has_test) test = data::load_classification(e_.data().test_path());
  const int64_t classes = e_.model().num_classes() > 0 ? e_.model().num_classes() : train.num_classes;
  ATTNCAMP_CHECK(train.num_classes <= classes, e_.data().train_path(), ": has ", train.num_classes,
                 " classes but model.num_classes is ", classes);
  const Shape& shp = train.images.shape();
  ATTNCAMP_CHECK(
      shp[1] == e_.model().image_size() && shp[2] == e_.model().image_size() && shp[3] == e_.model().in_channels(),
      e_.data().train_path(), ": /images are ", shape_str(shp), " but the model expects [N,", e_.model().image_size(),
      ",", e_.model().image_size(), ",", e_.model().in_channels(), "]");

  models::VisionTransformer model(vit_config_from(e_, classes));
  model.initialize(tc.seed());
  models::Optimizer opt(model.params(), optimizer_settings(e_.optimizer()));

  const std::string out_dir = tc.output_dir().empty() ? "runs/" + e_.name() : tc.output_dir();
  fs::create_directories(out_dir);
  const std::string ckpt = checkpoint_path(out_dir);
  const std::string metrics = (fs::path(out_dir) / "metrics.jsonl").string();
  {
    const std::string cfg_path = (fs::path(out_dir) / "config.pbtxt").string();
    std::ofstream f(cfg_path);
    ATTNCAMP_CHECK(f.good(), "cannot write ", cfg_path);
    f << config_to_text(e_);
  }

  LoopState st;
  std::string resume_from = resume;
  if (resume == "auto") resume_from = fs::exists(ckpt) ? ckpt : "";
  if (!resume_from.empty()) {
    st = load_checkpoint(resume_from, model, opt);
    std::fprintf(stderr, "resumed from %s at step %ld (epoch %ld)\n", resume_from.c_str(), static_cast<long>(st.step),
                 static_cast<long>(st.epoch + 1));
  }

  const int64_t n = train.labels.numel();
  const int64_t batch = tc.batch_size();
  const int64_t steps_per_epoch = (n + batch - 1) / batch;
  const int64_t epochs = tc.epochs();
  Schedule sched;
  sched.base_lr = e_.optimizer().lr();
  sched.min_lr = e_.optimizer().min_lr();
  sched.total_steps = epochs * steps_per_epoch;
  sched.warmup_steps = static_cast<int64_t>(std::llround(e_.optimizer().warmup_epochs() * steps_per_epoch));
  sched.cosine = e_.optimizer().schedule() == config::OptimizerConfig::COSINE;
  const int64_t last_step = tc.max_steps() > 0 ? std::min(tc.max_steps(), sched.total_steps) : sched.total_steps;
  const int64_t eval_batch = tc.eval_batch_size();

  std::fprintf(stderr, "training %s: %ld parameters, %ld samples, batch %ld, %ld steps/epoch, %ld epochs, %d threads\n",
               e_.name().c_str(), static_cast<long>(model.params().numel()), static_cast<long>(n),
               static_cast<long>(batch), static_cast<long>(steps_per_epoch), static_cast<long>(epochs),
               omp_get_max_threads());

  EventWriter events(out_dir);
  std::ofstream metrics_log(metrics, std::ios::app);
  ATTNCAMP_CHECK(metrics_log.good(), "cannot write ", metrics);
  TrainResult result;
  Progress progress(last_step, tc.log_every_steps());
  Tensor images, labels, losses, dlogits;
  bool stop = st.step >= last_step;
  while (!stop && st.epoch < epochs && st.step < last_step) {
    const std::vector<int64_t> order = data::epoch_permutation(n, tc.seed(), st.epoch);
    progress.begin_epoch(st.epoch, epochs);
    double loss_sum = 0;
    int64_t loss_count = 0;
    for (; st.step_in_epoch < steps_per_epoch; ++st.step_in_epoch) {
      if (st.step >= last_step) {
        stop = true;
        break;
      }
      const int64_t b = st.step_in_epoch * batch, e = std::min(n, b + batch);
      gather_batch(train, order, b, e, images, labels);
      model.params().zero_grad();
      const models::ForwardContext ctx{true, tc.seed(), st.step};
      const Tensor& logits = model.forward(images, ctx);
      models::ensure_tensor(losses, {e - b}, logits.dtype());
      models::ensure_tensor(dlogits, logits.shape(), logits.dtype());
      ops::cross_entropy_forward_backward(logits, labels, tc.label_smoothing(), 1.0 / static_cast<double>(e - b),
                                          losses, dlogits);
      const double loss = ops::mean(losses);
      ATTNCAMP_CHECK(std::isfinite(loss), "loss is not finite at step ", st.step + 1,
                     " (lower optimizer.lr or enable optimizer.clip_grad_norm)");
      model.backward(dlogits);
      if (e_.optimizer().clip_grad_norm() > 0)
        ops::clip_grad_norm_(model.params().grads(), e_.optimizer().clip_grad_norm());
      const double lr = sched.lr(st.step);
      opt.step(lr);
      ++st.step;
      loss_sum += loss;
      ++loss_count;
      result.step_losses.push_back(loss);
      metrics_log << "{\"kind\":\"step\",\"step\":" << st.step << fmt(",\"loss\":%.17g,\"lr\":%.9g}", loss, lr) << "\n";
      events.scalar("train/loss", st.step, loss);
      events.scalar("train/lr", st.step, lr);
      progress.step(st.step - 1, loss, lr, e - b);
    }
    progress.finish_line();
    const bool epoch_done = st.step_in_epoch >= steps_per_epoch;
    EpochRecord rec;
    rec.epoch = st.epoch + 1;
    rec.train_loss = loss_count ? loss_sum / static_cast<double>(loss_count) : 0;
    rec.images_per_second = progress.epoch_rate();
    if (epoch_done) {
      if (has_test) rec.eval = evaluate(model, test, eval_batch, tc.eval_limit());
      result.epochs.push_back(rec);
      std::printf("epoch %ld/%ld: train loss %.4f, test loss %.4f, top-1 %.2f%%, top-5 %.2f%%, %.0f img/s\n",
                  static_cast<long>(rec.epoch), static_cast<long>(epochs), rec.train_loss, rec.eval.loss,
                  100 * rec.eval.top1, 100 * rec.eval.top5, rec.images_per_second);
      std::fflush(stdout);
      metrics_log << ("{\"kind\":\"epoch\",\"epoch\":" + std::to_string(rec.epoch) +
                      fmt(",\"train_loss\":%.9g,\"test_loss\":%.9g,\"top1\":%.9g,\"top5\":%.9g", rec.train_loss,
                          rec.eval.loss, rec.eval.top1, rec.eval.top5) +
                      fmt(",\"images_per_second\":%.1f}", rec.images_per_second))
                  << "\n";
      events.scalar("train/epoch_loss", st.step, rec.train_loss);
      events.scalar("train/images_per_second", st.step, rec.images_per_second);
      if (has_test) {
        events.scalar("test/loss", st.step, rec.eval.loss);
        events.scalar("test/top1", st.step, rec.eval.top1);
        events.scalar("test/top5", st.step, rec.eval.top5);
      }
      events.flush();
      metrics_log.flush();
      ++st.epoch;
      st.step_in_epoch = 0;
      if (has_test && tc.early_stopping_patience() > 0) {
        if (rec.eval.top1 > st.best_top1) {
          st.best_top1 = rec.eval.top1;
          st.bad_epochs = 0;
        } else if (++st.bad_epochs >= tc.early_stopping_patience()) {
          std::printf("early stopping: top-1 has not improved for %ld epochs (best %.2f%%)\n",
                      static_cast<long>(st.bad_epochs), 100 * st.best_top1);
          result.early_stopped = true;
          stop = true;
        }
      }
      const bool periodic = tc.checkpoint_every_epochs() > 0 && st.epoch % tc.checkpoint_every_epochs() == 0;
      if (periodic || stop || st.epoch >= epochs || st.step >= last_step) save_checkpoint(ckpt, model, opt, st, e_);
    } else {
      save_checkpoint(ckpt, model, opt, st, e_);
    }
  }
  result.steps = st.step;
  if (has_test) {
    result.final_eval = result.epochs.empty() || result.epochs.back().epoch != st.epoch || st.step_in_epoch != 0
                            ? evaluate(model, test, eval_batch, tc.eval_limit())
                            : result.epochs.back().eval;
    std::printf("final test accuracy: top-1 %.2f%%, top-5 %.2f%%, loss %.4f (%ld samples, %ld steps)\n",
                100 * result.final_eval.top1, 100 * result.final_eval.top5, result.final_eval.loss,
                static_cast<long>(result.final_eval.count), static_cast<long>(st.step));
  }
  std::printf("checkpoint: %s\n", ckpt.c_str());
  return result;
}

}  // namespace attncamp::launch
