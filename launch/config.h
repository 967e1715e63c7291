// Experiment configs: loads a protobuf text file (schema launch/proto/attncamp.proto), applies
// command-line overrides ("--set a.b.c=value"), fills in defaults for proto3 zero values and
// validates every range in one place. Every failure throws attncamp::Error naming file/field.
#pragma once

#include <string>
#include <vector>

#include "attncamp.pb.h"

namespace attncamp::launch {

// Reads the text-format config at `path`, then in order: applies each override of
// `overrides` ("a.b.c=value", see apply_override), apply_defaults, validate(…, path).
// Throws attncamp::Error, and returns nothing, if any step fails:
//   missing file      -> "config FILE: cannot open (No such file or directory)"
//   syntax, unknown field or wrong type -> "FILE:LINE:COL: <protobuf's message>" (first error,
//                        line and column 1-based); a field that has moved to another message
//                        (model.dim -> model.vit.dim) -> "FILE:LINE:COL: model.dim has moved to
//                        model.vit.dim (...)"
//   bad override      -> "--set a.b=v: <why>"; bad range -> "FILE: field a.b: <rule> (got v)".
config::Experiment load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Same as load_config on the text itself; `source_name` stands for the file in messages.
config::Experiment parse_config_text(const std::string& text, const std::string& source_name,
                                     const std::vector<std::string>& overrides = {});

// Sets one field from an override "a.b.c=value": the dotted path is resolved through the
// message descriptors (field names as in the .proto, e.g. "optimizer.lr", "model.pool") and
// the value is parsed as a text-format value of that field: numbers ("3e-4", "20"), enum
// names ("ATTENTION_POOL"), booleans ("true"), strings quoted or not ("/x/y.h5").
// Repeated scalar fields take a list: "a,b,c" or "[a, b, c]" (replacing the whole list). Setting
// a field of a oneof member ("model.vit.dim=32") selects that member.
// Throws attncamp::Error "--set OVERRIDE: ..." for a missing '=', an unknown field (listing
// the fields allowed there; a moved field says where it went), a path through a non-message
// field, or a value of the wrong type.
void apply_override(config::Experiment& e, const std::string& override_text);

// Replaces the proto3 zero values that mean "unset" by their defaults:
//   optimizer.beta1 0 -> 0.9, optimizer.beta2 0 -> 0.999, optimizer.eps 0 -> 1e-8
//   trainer.eval_batch_size 0 -> trainer.batch_size, trainer.device "" -> "cpu",
//   trainer.bucket_mb 0 -> 25, trainer.collective_timeout_s 0 -> 300,
//   trainer.keep_checkpoints 0 -> 1, trainer.log_every_seconds 0 -> 30
//   model.vit.attn_pool_dim 0 -> model.vit.dim
//   data.task unset -> the model's task's message (model.vit: data.classification)
//   data.classification.mean [] -> [0], std [] -> [1], eval_crop 0 -> 0.875 with augment, else 1
// Everything else keeps its value (trainer.seed 0 is seed 0; model.vit.num_classes 0 means
// "take it from the training file" and is resolved by the task).
void apply_defaults(config::Experiment& e);

// All range checks of an experiment (after apply_defaults), delegated per section and per model
// and data kind (launch/config_validate.cpp). Throws attncamp::Error for the first failure:
// "SOURCE: field model.vit.heads: must divide model.vit.dim=64 (got 5)". The rules are listed
// per field in docs/configs.md.
void validate(const config::Experiment& e, const std::string& source);

// What can be read of an old config text (e.g. one stored in an older checkpoint): fields that
// no longer exist or moved are skipped, nothing is defaulted or validated; an empty experiment
// when the text does not parse at all.
config::Experiment parse_config_lenient(const std::string& text);

// The experiment as protobuf text (every non-default field), as written to
// output_dir/config.pbtxt and into checkpoints; parse_config_text accepts it again and gives
// back an equal message.
std::string config_to_text(const config::Experiment& e);

}  // namespace attncamp::launch
