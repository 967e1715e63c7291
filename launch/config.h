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
//                        line and column 1-based)
//   bad override      -> "--set a.b=v: <why>"; bad range -> "FILE: field a.b: <rule> (got v)".
config::Experiment load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Same as load_config on the text itself; `source_name` stands for the file in messages.
config::Experiment parse_config_text(const std::string& text, const std::string& source_name,
                                     const std::vector<std::string>& overrides = {});

// Sets one field from an override "a.b.c=value": the dotted path is resolved through the
// message descriptors (field names as in the .proto, e.g. "optimizer.lr", "model.pool") and
// the value is parsed as a text-format value of that field: numbers ("3e-4", "20"), enum
// names ("ATTENTION_POOL"), booleans ("true"), strings quoted or not ("/x/y.h5").
// Throws attncamp::Error "--set OVERRIDE: ..." for a missing '=', an unknown field (listing
// the fields allowed there), a path through a non-message field, or a value of the wrong type.
void apply_override(config::Experiment& e, const std::string& override_text);

// Replaces the proto3 zero values that mean "unset" by their defaults:
//   optimizer.beta1 0 -> 0.9, optimizer.beta2 0 -> 0.999, optimizer.eps 0 -> 1e-8
//   trainer.eval_batch_size 0 -> trainer.batch_size
//   trainer.device "" -> "cpu"
//   data.std 0 -> 1 (data.mean 0 stays 0)
//   model.attn_pool_dim 0 -> model.dim
// Everything else keeps its value (trainer.seed 0 is seed 0; model.num_classes 0 means "take
// it from the training file" and is resolved by the trainer).
void apply_defaults(config::Experiment& e);

// All range checks of an experiment (after apply_defaults). Throws attncamp::Error for the
// first failure: "SOURCE: field model.heads: must divide model.dim=64 (got 5)". The rules are
// listed per field in docs/configs.md.
void validate(const config::Experiment& e, const std::string& source);

// The experiment as protobuf text (every non-default field), as written to
// output_dir/config.pbtxt and into checkpoints; parse_config_text accepts it again and gives
// back an equal message.
std::string config_to_text(const config::Experiment& e);

}  // namespace attncamp::launch
