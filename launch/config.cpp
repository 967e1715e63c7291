// Config loading: protobuf TextFormat parsing with an error collector that turns the first
// syntax/field/type error into "FILE:LINE:COL: message" (a field that moved says where to),
// "--set" overrides resolved through descriptors and reflection, defaults for proto3 zero values.
// validate() is in config_validate.cpp.
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

// Fields that moved when ModelConfig and DataConfig became oneofs: old dotted path -> new one.
struct Moved {
  const char* old_path;
  const char* new_path;
};
constexpr Moved kMoved[] = {
    {"model.kind", "model.vit (write model { vit { ... } } instead of kind: VIT)"},
    {"model.image_size", "model.vit.image_size"},
    {"model.in_channels", "model.vit.in_channels"},
    {"model.patch_size", "model.vit.patch_size"},
    {"model.dim", "model.vit.dim"},
    {"model.depth", "model.vit.depth"},
    {"model.heads", "model.vit.heads"},
    {"model.mlp_dim", "model.vit.mlp_dim"},
    {"model.num_classes", "model.vit.num_classes"},
    {"model.pool", "model.vit.pool"},
    {"model.dropout", "model.vit.dropout"},
    {"model.attn_pool_dim", "model.vit.attn_pool_dim"},
    {"data.mean", "data.classification.mean"},
    {"data.std", "data.classification.std"},
    {"data.synthetic_samples", "data.classification.synthetic_samples"},
    {"data.augment", "data.classification.augment"},
    {"trainer.label_smoothing", "model.vit.label_smoothing (the classification loss's setting)"},
};

// Where `path` ("model.dim") moved to, or nullptr if it did not.
const char* moved_to(const std::string& path) {
  for (const Moved& m : kMoved) {
    if (path == m.old_path) return m.new_path;
  }
  return nullptr;
}

// Dotted path of the messages a field can sit in ("model" for attncamp.config.ModelConfig);
// empty for the experiment itself or a type that is not one of the top-level sections.
std::string section_of(const std::string& type_name) {
  const config::Experiment e;
  const pb::Descriptor* d = e.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->message_type() != nullptr && f->message_type()->full_name() == type_name) return f->name();
  }
  return "";
}

// protobuf's "Message type \"T\" has no field named \"F\"." for a field that moved, rewritten to say
// where it went; otherwise the message as it is.
std::string explain_moved_field(const std::string& message) {
  const std::string type_key = "Message type \"", field_key = "has no field named \"";
  const auto t = message.find(type_key), f = message.find(field_key);
  if (t == std::string::npos || f == std::string::npos) return message;
  const auto t_end = message.find('"', t + type_key.size()), f_end = message.find('"', f + field_key.size());
  if (t_end == std::string::npos || f_end == std::string::npos) return message;
  const std::string type = message.substr(t + type_key.size(), t_end - t - type_key.size());
  const std::string field = message.substr(f + field_key.size(), f_end - f - field_key.size());
  const std::string section = section_of(type);
  const std::string old_path = section.empty() ? field : section + "." + field;
  const char* to = moved_to(old_path);
  if (to == nullptr) return message;
  return old_path + " has moved to " + to + " (docs/configs.md lists every field)";
}

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
    const std::string message = explain_moved_field(message_);
    if (line_ < 0) return source + ": " + message;
    return source + ":" + std::to_string(line_ + 1) + ":" + std::to_string(column_ + 1) + ": " + message;
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

// A repeated scalar field from "a,b,c" or "[a, b, c]" (each value as text format writes it).
void set_repeated(pb::Message* msg, const pb::FieldDescriptor* f, const std::string& value, const std::string& o,
                  const std::string& where) {
  std::string list = value;
  const auto first = list.find_first_not_of(" \t");
  if (first == std::string::npos || list[first] != '[') list = "[" + list + "]";
  std::unique_ptr<pb::Message> parsed(msg->New());
  FirstErrorCollector errors;
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(f->name() + ": " + list, parsed.get())) {
    ATTNCAMP_THROW("--set ", o, ": '", value, "' is not a valid list of ", type_description(f), " for ", where,
                   " (write a,b,c or [a, b, c])");
  }
  const pb::Reflection* r = msg->GetReflection();
  r->ClearField(msg, f);
  const std::vector<const pb::FieldDescriptor*> only{f};
  r->SwapFields(msg, parsed.get(), only);
}

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
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

config::Experiment parse_config_lenient(const std::string& text) {
  config::Experiment e;
  FirstErrorCollector errors;  // keeps protobuf from logging the skipped fields
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.AllowUnknownField(true);
  if (!parser.ParseFromString(text, &e)) return config::Experiment();
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
      const std::string full = where.empty() ? part : where + "." + part;
      const char* to = moved_to(full);
      if (to != nullptr) ATTNCAMP_THROW("--set ", o, ": ", full, " has moved to ", to);
      ATTNCAMP_THROW("--set ", o, ": no field '", part, "' in ", where.empty() ? "the experiment" : where,
                     " (fields: ", field_names(d), ")");
    }
    where = where.empty() ? part : where + "." + part;
    if (f->is_repeated() && (dot != std::string::npos || f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE)) {
      ATTNCAMP_THROW("--set ", o, ": ", where, " is a repeated message field, which --set cannot set");
    }
    if (f->is_repeated()) {
      set_repeated(msg, f, value, o, where);
      return;
    }
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
  if (tr.keep_checkpoints() == 0) tr.set_keep_checkpoints(1);
  if (tr.log_every_seconds() == 0) tr.set_log_every_seconds(30);
  config::ModelConfig& m = *e.mutable_model();
  config::DataConfig& data = *e.mutable_data();
  if (m.has_vit()) {
    config::VitConfig& vit = *m.mutable_vit();
    if (vit.attn_pool_dim() == 0) vit.set_attn_pool_dim(vit.dim());
    if (data.task_case() == config::DataConfig::TASK_NOT_SET) data.mutable_classification();
  }
  if (data.has_classification()) {
    config::ClassificationDataConfig& c = *data.mutable_classification();
    if (c.mean_size() == 0) c.add_mean(0.0f);
    if (c.std_size() == 0) c.add_std(1.0f);
    if (c.eval_crop() == 0) c.set_eval_crop(c.augment() ? 0.875f : 1.0f);
  }
}

std::string config_to_text(const config::Experiment& e) {
  std::string out;
  pb::TextFormat::Printer printer;
  ATTNCAMP_CHECK(printer.PrintToString(e, &out), "cannot print the experiment config as text");
  return out;
}

}  // namespace attncamp::launch
