// Checkpoint files (schema checkpoint/1, docs/data_formats.md): named tensors as HDF5
// datasets and named ints, floats and strings as root attributes. Writes are atomic (temporary
// file, fsync, rename), so a crash or error never replaces a good checkpoint with a bad one.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "runtime/tensor.h"

namespace attncamp::data {

struct CheckpointData {
  std::map<std::string, Tensor> tensors;       // name ('/' makes groups) -> CPU tensor
  std::map<std::string, int64_t> ints;         // e.g. step, epoch, world_size
  std::map<std::string, double> floats;        // e.g. learning rate, loss scale
  std::map<std::string, std::string> strings;  // e.g. config text
};

// Writes `c` to `path` atomically: everything goes to "<path>.tmp-<pid>", which is flushed,
// closed, fsync'd and renamed over `path`, then the folder is fsync'd. Tensors must be CPU
// f32/f64/i32/i64/u8 (non-contiguous ones are copied); attribute keys must be unique across
// ints/floats/strings and not "attncamp_schema". On any error the temporary file is removed,
// the previous file at `path` is untouched, and attncamp::Error is thrown.
void write_checkpoint(const std::string& path, const CheckpointData& c);

// Reads every tensor (dtype and shape preserved) and attribute of a checkpoint/1 file.
// Throws "checkpoint PATH: cannot open as HDF5 (truncated or corrupt?)" for a damaged or
// non-HDF5 file, and a clear error when attncamp_schema is missing or not checkpoint/1.
CheckpointData read_checkpoint(const std::string& path);

// Accessors that throw "checkpoint PATH: missing field 'KEY'" when absent; `path` is only used
// in the message.
int64_t get_int(const CheckpointData& c, const std::string& key, const std::string& path);
double get_float(const CheckpointData& c, const std::string& key, const std::string& path);
const std::string& get_string(const CheckpointData& c, const std::string& key, const std::string& path);
const Tensor& get_tensor(const CheckpointData& c, const std::string& key, const std::string& path);
// As above, and throws "checkpoint PATH: tensor 'KEY' has shape [..] float32, expected [..] float32"
// when the shape or dtype differ.
const Tensor& get_tensor(const CheckpointData& c, const std::string& key, const std::string& path, const Shape& shape,
                         DType dtype);

}  // namespace attncamp::data
