// Config loading: protobuf TextFormat parsing with an error collector that turns the first
// syntax/field/type error into "FILE:LINE:COL: message", "--set" overrides resolved through
// descriptors and reflection, defaults for proto3 zero values, and the one validate().
#include "launch/config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <type_traits>

#include "runtime/error.h"

namespace attncamp::launch {
namespace {

namespace pb = google::protobuf;

// Keeps the first error protobuf reports (0-based line/column); later ones are consequences.
class FirstErrorCollector : public pb::io::ErrorCollector {
 public:
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (has_error_) return;
    has_error_ = true;
    line_ = line;
    column_ = column;
    message_ = message;
  }
  bool has_error() const { return has_error_; }
  // "SOURCE:LINE:COL: message" with 1-based line and column ("SOURCE: message" without one).
  std::string describe(const std::string& source) const {
    if (line_ < 0) return source + ": " + message_;
    return source + ":" + std::to_string(line_ + 1) + ":" + std::to_string(column_ + 1) + ": " + message_;
  }

 private:
  bool has_error_ = false;
  int line_ = -1;
  int column_ = -1;
  std::string message_;
};

// "a, b, c": the field names of a message type, in declaration order.
std::string field_names(const pb::Descriptor* d) {
  std::string out;
  for (int i = 0; i < d->field_count(); ++i) {
    if (i) out += ", ";
    out += d->field(i)->name();
  }
  return out;
}

// Type of a field as a user reads it: "float", "int32", "bool", "string", "Pool (CLS_TOKEN, ...)".
std::string type_description(const pb::FieldDescriptor* f) {
  if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_ENUM) return f->type_name();
  const pb::EnumDescriptor* en = f->enum_type();
  std::string out = en->name() + " (one of ";
  for (int i = 0; i < en->value_count(); ++i) {
    if (i) out += ", ";
    out += en->value(i)->name();
  }
  return out + ")";
}

bool is_quoted(const std::string& v) {
  return v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front();
}

// A text-format string literal holding `v` verbatim.
std::string quote(const std::string& v) {
  std::string out = "\"";
  for (const char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

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

}  // namespace

config::Experiment parse_config_text(const std::string& text, const std::string& source_name,
                                     const std::vector<std::string>& overrides) {
  config::Experiment e;
  FirstErrorCollector errors;
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &e)) {
    if (errors.has_error()) ATTNCAMP_THROW(errors.describe(source_name));
    ATTNCAMP_THROW(source_name, ": not a valid attncamp.config.Experiment text config");
  }
  for (const std::string& o : overrides) apply_override(e, o);
  apply_defaults(e);
  validate(e, source_name);
  return e;
}

config::Experiment load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) ATTNCAMP_THROW("config ", path, ": cannot open (", std::strerror(errno), ")");
  std::string text;
  char buf[1 << 14];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), file.get())) > 0) text.append(buf, n);
  if (std::ferror(file.get())) ATTNCAMP_THROW("config ", path, ": cannot read (", std::strerror(errno), ")");
  return parse_config_text(text, path, overrides);
}

void apply_override(config::Experiment& e, const std::string& override_text) {
  const std::string& o = override_text;
  const auto eq = o.find('=');
  if (eq == std::string::npos) ATTNCAMP_THROW("--set ", o, ": expected FIELD=VALUE, e.g. trainer.max_steps=20");
  const std::string path = trim(o.substr(0, eq));
  const std::string value = o.substr(eq + 1);
  if (path.empty()) ATTNCAMP_THROW("--set ", o, ": no field name before '=' (e.g. trainer.max_steps=20)");

  pb::Message* msg = &e;
  std::string where;  // dotted path resolved so far
  size_t start = 0;
  while (true) {
    const auto dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const pb::Descriptor* d = msg->GetDescriptor();
    const pb::FieldDescriptor* f = d->FindFieldByName(part);
    if (!f) {
      ATTNCAMP_THROW("--set ", o, ": no field '", part, "' in ", where.empty() ? "the experiment" : where,
                     " (fields: ", field_names(d), ")");
    }
    where = where.empty() ? part : where + "." + part;
    if (f->is_repeated()) ATTNCAMP_THROW("--set ", o, ": ", where, " is a repeated field, which --set cannot set");
    const bool is_message = f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE;
    if (dot != std::string::npos) {
      if (!is_message) {
        ATTNCAMP_THROW("--set ", o, ": ", where, " is a field of type ", f->type_name(),
                       ", not a message, so it has no field '", path.substr(dot + 1), "'");
      }
      msg = msg->GetReflection()->MutableMessage(msg, f);
      start = dot + 1;
      continue;
    }
    if (is_message) {
      ATTNCAMP_THROW("--set ", o, ": ", where, " is a message; set one of its fields (", where,
                     ".FIELD=VALUE; fields: ", field_names(f->message_type()), ")");
    }
    const bool is_string =
        f->type() == pb::FieldDescriptor::TYPE_STRING || f->type() == pb::FieldDescriptor::TYPE_BYTES;
    const std::string literal = is_string && !is_quoted(value) ? quote(value) : value;
    FirstErrorCollector errors;  // keeps protobuf from logging; the message below says it all
    pb::TextFormat::Parser parser;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFieldValueFromString(literal, f, msg)) {
      ATTNCAMP_THROW("--set ", o, ": '", value, "' is not a valid ", type_description(f), " for ", where);
    }
    return;
  }
}

void apply_defaults(config::Experiment& e) {
  config::OptimizerConfig& opt = *e.mutable_optimizer();
  if (opt.beta1() == 0) opt.set_beta1(0.9f);
  if (opt.beta2() == 0) opt.set_beta2(0.999f);
  if (opt.eps() == 0) opt.set_eps(1e-8f);
  config::TrainerConfig& tr = *e.mutable_trainer();
  if (tr.eval_batch_size() == 0) tr.set_eval_batch_size(tr.batch_size());
  if (tr.device().empty()) tr.set_device("cpu");
  if (tr.bucket_mb() == 0) tr.set_bucket_mb(25);
  if (tr.collective_timeout_s() == 0) tr.set_collective_timeout_s(300);
  config::DataConfig& data = *e.mutable_data();
  if (data.std() == 0) data.set_std(1.0f);
  config::ModelConfig& m = *e.mutable_model();
  if (m.attn_pool_dim() == 0) m.set_attn_pool_dim(m.dim());
}

void validate(const config::Experiment& e, const std::string& source) {
  // Throws "SOURCE: field FIELD: RULE (got VALUE)" unless `ok`.
  auto require = [&source](bool ok, const char* field, const std::string& rule, const auto& got) {
    if (!ok) ATTNCAMP_THROW(source, ": field ", field, ": ", rule, " (got ", shown(got), ")");
  };
  const std::string gt0 = "must be > 0";
  const std::string ge0 = "must be >= 0";
  const std::string unit = "must be in [0, 1)";

  const config::ModelConfig& m = e.model();
  require(config::ModelConfig::Kind_IsValid(m.kind()), "model.kind", "must be VIT", static_cast<int>(m.kind()));
  require(m.image_size() > 0, "model.image_size", gt0, m.image_size());
  require(m.in_channels() == 1 || m.in_channels() == 3, "model.in_channels", "must be 1 (grey) or 3 (RGB)",
          m.in_channels());
  require(m.patch_size() > 0, "model.patch_size", gt0, m.patch_size());
  require(m.image_size() % m.patch_size() == 0, "model.patch_size",
          "must divide model.image_size=" + std::to_string(m.image_size()), m.patch_size());
  require(m.dim() > 0, "model.dim", gt0, m.dim());
  require(m.depth() > 0, "model.depth", gt0, m.depth());
  require(m.heads() > 0, "model.heads", gt0, m.heads());
  require(m.dim() % m.heads() == 0, "model.heads", "must divide model.dim=" + std::to_string(m.dim()), m.heads());
  require(m.mlp_dim() > 0, "model.mlp_dim", gt0, m.mlp_dim());
  require(m.num_classes() >= 0, "model.num_classes", "must be >= 0 (0 = from the training file)", m.num_classes());
  require(config::ModelConfig::Pool_IsValid(m.pool()), "model.pool", "must be CLS_TOKEN or ATTENTION_POOL",
          static_cast<int>(m.pool()));
  require(in_unit(m.dropout()), "model.dropout", unit, m.dropout());
  require(m.attn_pool_dim() >= 0, "model.attn_pool_dim", "must be >= 0 (0 = model.dim)", m.attn_pool_dim());

  const config::DataConfig& d = e.data();
  require(d.loader_threads() >= 0, "data.loader_threads", "must be >= 0 (0 = read the training file whole)",
          d.loader_threads());
  require(!d.augment() || d.loader_threads() > 0, "data.augment", "needs data.loader_threads > 0", d.augment());
  require(d.synthetic_samples() >= 0, "data.synthetic_samples", "must be >= 0 (0 = read data.train_path)",
          d.synthetic_samples());
  require(!d.train_path().empty() || d.synthetic_samples() > 0, "data.train_path",
          "must name the training HDF5 file (or set data.synthetic_samples)", d.train_path());
  require(d.synthetic_samples() == 0 || m.num_classes() > 0, "model.num_classes",
          "must be > 0 with data.synthetic_samples", m.num_classes());
  require(std::isfinite(d.mean()), "data.mean", "must be finite", d.mean());
  require(positive(d.std()), "data.std", gt0, d.std());

  const config::OptimizerConfig& opt = e.optimizer();
  require(config::OptimizerConfig::Kind_IsValid(opt.kind()), "optimizer.kind", "must be ADAMW or SGD",
          static_cast<int>(opt.kind()));
  require(config::OptimizerConfig::Schedule_IsValid(opt.schedule()), "optimizer.schedule", "must be COSINE or CONSTANT",
          static_cast<int>(opt.schedule()));
  require(positive(opt.lr()), "optimizer.lr", gt0, opt.lr());
  require(non_negative(opt.weight_decay()), "optimizer.weight_decay", ge0, opt.weight_decay());
  require(in_unit(opt.beta1()), "optimizer.beta1", unit, opt.beta1());
  require(in_unit(opt.beta2()), "optimizer.beta2", unit, opt.beta2());
  require(positive(opt.eps()), "optimizer.eps", gt0, opt.eps());
  require(in_unit(opt.momentum()), "optimizer.momentum", unit, opt.momentum());
  require(non_negative(opt.warmup_epochs()), "optimizer.warmup_epochs", ge0, opt.warmup_epochs());
  require(non_negative(opt.min_lr()), "optimizer.min_lr", ge0, opt.min_lr());
  require(opt.min_lr() <= opt.lr(), "optimizer.min_lr", "must be <= optimizer.lr=" + shown(opt.lr()), opt.min_lr());
  require(non_negative(opt.clip_grad_norm()), "optimizer.clip_grad_norm", "must be >= 0 (0 = no clipping)",
          opt.clip_grad_norm());

  const config::TrainerConfig& t = e.trainer();
  require(t.epochs() > 0, "trainer.epochs", gt0, t.epochs());
  require(t.batch_size() > 0, "trainer.batch_size", gt0, t.batch_size());
  require(t.eval_batch_size() > 0, "trainer.eval_batch_size", gt0, t.eval_batch_size());
  require(t.max_steps() >= 0, "trainer.max_steps", "must be >= 0 (0 = no limit)", t.max_steps());
  require(in_unit(t.label_smoothing()), "trainer.label_smoothing", unit, t.label_smoothing());
  require(t.early_stopping_patience() >= 0, "trainer.early_stopping_patience", "must be >= 0 (0 = off)",
          t.early_stopping_patience());
  require(t.checkpoint_every_epochs() >= 0, "trainer.checkpoint_every_epochs", "must be >= 0 (0 = only the final)",
          t.checkpoint_every_epochs());
  require(t.threads() >= 0, "trainer.threads", "must be >= 0 (0 = all cores)", t.threads());
  require(t.log_every_steps() >= 0, "trainer.log_every_steps", ge0, t.log_every_steps());
  require(t.device() == "cpu" || t.device() == "cuda" || t.device().rfind("cuda:", 0) == 0, "trainer.device",
          "must be \"cpu\", \"cuda\" or \"cuda:N\"", t.device());
  require(t.precision().empty() || t.precision() == "fp32" || t.precision() == "bf16" || t.precision() == "fp16",
          "trainer.precision", "must be \"fp32\", \"bf16\" or \"fp16\" (\"\" = fp32 on cpu, bf16 on cuda)",
          t.precision());
  require(t.global_batch() >= 0, "trainer.global_batch", "must be >= 0 (0 = batch_size x ranks)", t.global_batch());
  require(t.bucket_mb() > 0, "trainer.bucket_mb", gt0, t.bucket_mb());
  require(t.collective_timeout_s() > 0, "trainer.collective_timeout_s", gt0, t.collective_timeout_s());
  require(config::TrainerConfig::NonFinite_IsValid(t.on_nonfinite()), "trainer.on_nonfinite",
          "must be STOP or SKIP_STEP", static_cast<int>(t.on_nonfinite()));
  require(t.eval_limit() >= 0, "trainer.eval_limit", "must be >= 0 (0 = all)", t.eval_limit());
}

std::string config_to_text(const config::Experiment& e) {
  std::string out;
  pb::TextFormat::Printer printer;
  ATTNCAMP_CHECK(printer.PrintToString(e, &out), "cannot print the experiment config as text");
  return out;
}

}  // namespace attncamp::launch
