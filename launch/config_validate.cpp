// validate(): every range check of an experiment, one function per section and per model or data
// kind, each naming the field's full dotted path, the rule and the value. The model's kind decides
// its task (vit: classification), and the task decides which data message and metrics fit.
#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "launch/config.h"
#include "launch/task.h"
#include "runtime/error.h"

namespace attncamp::launch {

namespace {

// Finite and >= 0 / > 0 / in [0, 1); NaN and infinities fail every one of them.
bool non_negative(double v) { return std::isfinite(v) && v >= 0; }
bool positive(double v) { return std::isfinite(v) && v > 0; }
bool in_unit(double v) { return v >= 0 && v < 1; }

// A value as it appears in a range error: strings quoted, numbers as written.
template <typename T>
std::string shown(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return "\"" + v + "\"";
  } else {
    std::ostringstream os;
    os << v;
    return os.str();
  }
}

// Throws "SOURCE: field FIELD: RULE (got VALUE)" unless `ok`.
class Checker {
 public:
  explicit Checker(const std::string& source) : source_(source) {}
  template <typename T>
  void require(bool ok, const std::string& field, const std::string& rule, const T& got) const {
    if (!ok) ATTNCAMP_THROW(source_, ": field ", field, ": ", rule, " (got ", shown(got), ")");
  }

 private:
  const std::string& source_;
};

const std::string kGt0 = "must be > 0";
const std::string kGe0 = "must be >= 0";
const std::string kUnit = "must be in [0, 1)";

void validate_vit(const config::VitConfig& m, const Checker& c) {
  const std::string p = "model.vit.";
  c.require(m.image_size() > 0, p + "image_size", kGt0, m.image_size());
  c.require(m.in_channels() == 1 || m.in_channels() == 3, p + "in_channels", "must be 1 (grey) or 3 (RGB)",
            m.in_channels());
  c.require(m.patch_size() > 0, p + "patch_size", kGt0, m.patch_size());
  c.require(m.image_size() % m.patch_size() == 0, p + "patch_size",
            "must divide model.vit.image_size=" + std::to_string(m.image_size()), m.patch_size());
  c.require(m.dim() > 0, p + "dim", kGt0, m.dim());
  c.require(m.depth() > 0, p + "depth", kGt0, m.depth());
  c.require(m.heads() > 0, p + "heads", kGt0, m.heads());
  c.require(m.dim() % m.heads() == 0, p + "heads", "must divide model.vit.dim=" + std::to_string(m.dim()), m.heads());
  c.require(m.mlp_dim() > 0, p + "mlp_dim", kGt0, m.mlp_dim());
  c.require(m.num_classes() >= 0, p + "num_classes", "must be >= 0 (0 = from the training file)", m.num_classes());
  c.require(config::VitConfig::Pool_IsValid(m.pool()), p + "pool", "must be CLS_TOKEN or ATTENTION_POOL",
            static_cast<int>(m.pool()));
  c.require(in_unit(m.dropout()), p + "dropout", kUnit, m.dropout());
  c.require(m.attn_pool_dim() >= 0, p + "attn_pool_dim", "must be >= 0 (0 = model.vit.dim)", m.attn_pool_dim());
  c.require(in_unit(m.label_smoothing()), p + "label_smoothing", kUnit, m.label_smoothing());
}

// data.classification for a classifier with `channels` input channels and `classes` (0 = from
// the file) outputs; `model` names the model's message in errors.
void validate_classification_data(const config::DataConfig& d, int channels, int classes, const std::string& model,
                                  const Checker& c) {
  const config::ClassificationDataConfig& k = d.classification();
  const std::string p = "data.classification.";
  c.require(k.synthetic_samples() >= 0, p + "synthetic_samples", "must be >= 0 (0 = read data.train_path)",
            k.synthetic_samples());
  c.require(!d.train_path().empty() || k.synthetic_samples() > 0, "data.train_path",
            "must name the training HDF5 file (or set data.classification.synthetic_samples)", d.train_path());
  c.require(k.synthetic_samples() == 0 || classes > 0, model + ".num_classes",
            "must be > 0 with data.classification.synthetic_samples", classes);
  c.require(!k.augment() || d.loader_threads() > 0, p + "augment", "needs data.loader_threads > 0", k.augment());
  const std::string per_channel = "must have 1 value or " + std::to_string(channels) + " (" + model + ".in_channels)";
  c.require(k.mean_size() == 1 || k.mean_size() == channels, p + "mean", per_channel, k.mean_size());
  c.require(k.std_size() == 1 || k.std_size() == channels, p + "std", per_channel, k.std_size());
  for (int i = 0; i < k.mean_size(); ++i) {
    c.require(std::isfinite(k.mean(i)), p + "mean[" + std::to_string(i) + "]", "must be finite", k.mean(i));
  }
  for (int i = 0; i < k.std_size(); ++i) {
    c.require(positive(k.std(i)), p + "std[" + std::to_string(i) + "]", kGt0, k.std(i));
  }
  c.require(k.eval_crop() > 0 && k.eval_crop() <= 1, p + "eval_crop", "must be in (0, 1]", k.eval_crop());
}

void validate_model_and_data(const config::Experiment& e, const Checker& c) {
  const config::ModelConfig& m = e.model();
  const config::DataConfig& d = e.data();
  c.require(m.kind_case() != config::ModelConfig::KIND_NOT_SET, "model",
            "must name one architecture, e.g. model { vit { ... } }", std::string("nothing"));
  c.require(d.loader_threads() >= 0, "data.loader_threads", "must be >= 0 (0 = read the training file whole)",
            d.loader_threads());
  switch (m.kind_case()) {
    case config::ModelConfig::kVit:
      validate_vit(m.vit(), c);
      c.require(d.has_classification(), "data", "model.vit trains on classification data: set data.classification",
                std::string("another task's data"));
      validate_classification_data(d, m.vit().in_channels(), m.vit().num_classes(), "model.vit", c);
      break;
    case config::ModelConfig::KIND_NOT_SET: break;
  }
}

void validate_optimizer(const config::OptimizerConfig& opt, const Checker& c) {
  c.require(config::OptimizerConfig::Kind_IsValid(opt.kind()), "optimizer.kind", "must be ADAMW or SGD",
            static_cast<int>(opt.kind()));
  c.require(config::OptimizerConfig::Schedule_IsValid(opt.schedule()), "optimizer.schedule",
            "must be COSINE or CONSTANT", static_cast<int>(opt.schedule()));
  c.require(positive(opt.lr()), "optimizer.lr", kGt0, opt.lr());
  c.require(non_negative(opt.weight_decay()), "optimizer.weight_decay", kGe0, opt.weight_decay());
  c.require(in_unit(opt.beta1()), "optimizer.beta1", kUnit, opt.beta1());
  c.require(in_unit(opt.beta2()), "optimizer.beta2", kUnit, opt.beta2());
  c.require(positive(opt.eps()), "optimizer.eps", kGt0, opt.eps());
  c.require(in_unit(opt.momentum()), "optimizer.momentum", kUnit, opt.momentum());
  c.require(non_negative(opt.warmup_epochs()), "optimizer.warmup_epochs", kGe0, opt.warmup_epochs());
  c.require(non_negative(opt.min_lr()), "optimizer.min_lr", kGe0, opt.min_lr());
  c.require(opt.min_lr() <= opt.lr(), "optimizer.min_lr", "must be <= optimizer.lr=" + shown(opt.lr()), opt.min_lr());
  c.require(non_negative(opt.clip_grad_norm()), "optimizer.clip_grad_norm", "must be >= 0 (0 = no clipping)",
            opt.clip_grad_norm());
  c.require(opt.lr_reference_batch() >= 0, "optimizer.lr_reference_batch", "must be >= 0 (0 = no scaling)",
            opt.lr_reference_batch());
}

// "a, b, c"
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

void validate_trainer(const config::Experiment& e, const Checker& c) {
  const config::TrainerConfig& t = e.trainer();
  c.require(t.epochs() > 0, "trainer.epochs", kGt0, t.epochs());
  c.require(t.batch_size() > 0, "trainer.batch_size", kGt0, t.batch_size());
  c.require(t.eval_batch_size() > 0, "trainer.eval_batch_size", kGt0, t.eval_batch_size());
  c.require(t.max_steps() >= 0, "trainer.max_steps", "must be >= 0 (0 = no limit)", t.max_steps());
  c.require(t.early_stopping_patience() >= 0, "trainer.early_stopping_patience", "must be >= 0 (0 = off)",
            t.early_stopping_patience());
  c.require(t.checkpoint_every_epochs() >= 0, "trainer.checkpoint_every_epochs", "must be >= 0 (0 = only the final)",
            t.checkpoint_every_epochs());
  c.require(t.threads() >= 0, "trainer.threads", "must be >= 0 (0 = all cores)", t.threads());
  c.require(t.log_every_steps() >= 0, "trainer.log_every_steps", "must be >= 0 (0 = every log_every_seconds)",
            t.log_every_steps());
  c.require(positive(t.log_every_seconds()), "trainer.log_every_seconds", kGt0, t.log_every_seconds());
  c.require(t.device() == "cpu" || t.device() == "cuda" || t.device().rfind("cuda:", 0) == 0, "trainer.device",
            "must be \"cpu\", \"cuda\" or \"cuda:N\"", t.device());
  c.require(t.precision().empty() || t.precision() == "fp32" || t.precision() == "bf16" || t.precision() == "fp16",
            "trainer.precision", "must be \"fp32\", \"bf16\" or \"fp16\" (\"\" = fp32 on cpu, bf16 on cuda)",
            t.precision());
  c.require(t.global_batch() >= 0, "trainer.global_batch", "must be >= 0 (0 = batch_size x ranks)", t.global_batch());
  c.require(t.bucket_mb() > 0, "trainer.bucket_mb", kGt0, t.bucket_mb());
  c.require(t.collective_timeout_s() > 0, "trainer.collective_timeout_s", kGt0, t.collective_timeout_s());
  c.require(config::TrainerConfig::NonFinite_IsValid(t.on_nonfinite()), "trainer.on_nonfinite",
            "must be STOP or SKIP_STEP", static_cast<int>(t.on_nonfinite()));
  c.require(t.eval_limit() >= 0, "trainer.eval_limit", "must be >= 0 (0 = all)", t.eval_limit());
  c.require(t.keep_checkpoints() >= 1, "trainer.keep_checkpoints", "must be >= 1 (0 = 1)", t.keep_checkpoints());
  if (!t.primary_metric().empty() && e.model().kind_case() != config::ModelConfig::KIND_NOT_SET) {
    const std::vector<std::string> names = evaluation_metrics(e.model());
    bool known = false;
    for (const std::string& n : names) known = known || n == t.primary_metric();
    c.require(known, "trainer.primary_metric", "must be one of the metrics the task reports: " + joined(names),
              t.primary_metric());
  }
}

}  // namespace

void validate(const config::Experiment& e, const std::string& source) {
  const Checker c(source);
  validate_model_and_data(e, c);
  validate_optimizer(e.optimizer(), c);
  validate_trainer(e, c);
}

}  // namespace attncamp::launch
