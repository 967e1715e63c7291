// Checkpoint writing and reading on top of data/hdf5.h. Reading walks every link below the
// root (H5Lvisit) and loads each dataset as a tensor; root attributes are sorted into ints,
// floats and strings by their HDF5 type class.
#include "data/checkpoint.h"

#include <set>

#include "data/hdf5.h"

namespace attncamp::data {

namespace {

constexpr const char* kSchemaKey = "attncamp_schema";
constexpr const char* kSchema = "checkpoint/1";

herr_t collect_link(hid_t, const char* name, const H5L_info_t* info, void* out) {
  if (info->type == H5L_TYPE_HARD) static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

void check_keys(const std::string& path, const CheckpointData& c) {
  std::set<std::string> seen;
  auto add = [&](const std::string& key, const char* kind) {
    if (key.empty()) ATTNCAMP_THROW("checkpoint ", path, ": empty ", kind, " name");
    if (key == kSchemaKey) ATTNCAMP_THROW("checkpoint ", path, ": '", key, "' is reserved");
    if (!seen.insert(key).second) {
      ATTNCAMP_THROW("checkpoint ", path, ": key '", key, "' is used twice among ints, floats and strings");
    }
  };
  for (const auto& kv : c.ints) add(kv.first, "int");
  for (const auto& kv : c.floats) add(kv.first, "float");
  for (const auto& kv : c.strings) add(kv.first, "string");
  for (const auto& kv : c.tensors) {
    if (kv.first.empty() || kv.first.front() == '/' || kv.first.back() == '/') {
      ATTNCAMP_THROW("checkpoint ", path, ": tensor name '", kv.first, "' must be non-empty without a leading or ",
                     "trailing '/'");
    }
  }
}

[[noreturn]] void missing(const std::string& key, const std::string& path) {
  ATTNCAMP_THROW("checkpoint ", path, ": missing field '", key, "'");
}

}  // namespace

void write_checkpoint(const std::string& path, const CheckpointData& c) {
  check_keys(path, c);
  write_file_atomically(path, [&](hid_t file) {
    write_attr_string(file, kSchemaKey, kSchema);
    for (const auto& [key, v] : c.ints) write_attr_int(file, key, v);
    for (const auto& [key, v] : c.floats) write_attr_double(file, key, v);
    for (const auto& [key, v] : c.strings) write_attr_string(file, key, v);
    for (const auto& [key, t] : c.tensors) {
      const bool copy = t.defined() && t.device().is_cpu() && !t.is_contiguous();
      write_tensor(file, key, copy ? t.clone() : t);
    }
  });
}

CheckpointData read_checkpoint(const std::string& path) {
  H5Id file = try_open_file(path);
  if (!file.valid()) ATTNCAMP_THROW("checkpoint ", path, ": cannot open as HDF5 (truncated or corrupt?)");
  const hid_t f = file.get();
  if (!has_attr(f, kSchemaKey)) {
    ATTNCAMP_THROW("checkpoint ", path, ": root attribute attncamp_schema not found (not an attncamp checkpoint?)");
  }
  const std::string schema = read_attr_string(f, kSchemaKey);
  if (schema != kSchema) {
    ATTNCAMP_THROW("checkpoint ", path, ": attncamp_schema is \"", schema, "\", expected \"", kSchema, "\"");
  }

  CheckpointData c;
  for (const std::string& key : attr_names(f)) {
    if (key == kSchemaKey) continue;
    switch (attr_kind(f, key)) {
      case AttrKind::kInt: c.ints[key] = read_attr_int(f, key); break;
      case AttrKind::kFloat: c.floats[key] = read_attr_double(f, key); break;
      case AttrKind::kString: c.strings[key] = read_attr_string(f, key); break;
      case AttrKind::kOther:
        ATTNCAMP_THROW("checkpoint ", path, ": attribute '", key, "' is not a single int, float or string");
    }
  }

  std::vector<std::string> links;
  ATTNCAMP_H5_CHECK(H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, collect_link, &links), "checkpoint ", path,
                    ": cannot list contents (truncated or corrupt?)");
  for (const std::string& name : links) {
    H5O_info_t info;
    ATTNCAMP_H5_CHECK(H5Oget_info_by_name(f, name.c_str(), &info, H5P_DEFAULT), "checkpoint ", path, ": /", name,
                      ": cannot inspect (truncated or corrupt?)");
    if (info.type == H5O_TYPE_DATASET) c.tensors[name] = read_tensor(f, name);
  }
  return c;
}

int64_t get_int(const CheckpointData& c, const std::string& key, const std::string& path) {
  const auto it = c.ints.find(key);
  if (it == c.ints.end()) missing(key, path);
  return it->second;
}

double get_float(const CheckpointData& c, const std::string& key, const std::string& path) {
  const auto it = c.floats.find(key);
  if (it == c.floats.end()) missing(key, path);
  return it->second;
}

const std::string& get_string(const CheckpointData& c, const std::string& key, const std::string& path) {
  const auto it = c.strings.find(key);
  if (it == c.strings.end()) missing(key, path);
  return it->second;
}

const Tensor& get_tensor(const CheckpointData& c, const std::string& key, const std::string& path) {
  const auto it = c.tensors.find(key);
  if (it == c.tensors.end()) missing(key, path);
  return it->second;
}

const Tensor& get_tensor(const CheckpointData& c, const std::string& key, const std::string& path, const Shape& shape,
                         DType dtype) {
  const Tensor& t = get_tensor(c, key, path);
  if (t.shape() != shape || t.dtype() != dtype) {
    ATTNCAMP_THROW("checkpoint ", path, ": tensor '", key, "' has shape ", shape_str(t.shape()), " ",
                   numpy_dtype_name(t.dtype()), ", expected ", shape_str(shape), " ", numpy_dtype_name(dtype));
  }
  return t;
}

}  // namespace attncamp::data
