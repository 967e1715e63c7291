// classification/1 loading: checks the schema attribute, then /images (uint8 rank 4, encoding
// "raw"), /labels (int32 rank 1, same N), num_classes, optional /class_names and every label's
// range, in that order, so the first problem found is the one reported.
#include "data/classification.h"

#include "data/hdf5.h"

namespace attncamp::data {

namespace {
constexpr const char* kSchema = "classification/1";
}

ClassificationData load_classification(const std::string& path) {
  H5Id file = open_file(path);
  const hid_t f = file.get();

  if (!has_attr(f, "attncamp_schema")) {
    ATTNCAMP_THROW(path, ": root attribute attncamp_schema not found (expected \"", kSchema, "\")");
  }
  const std::string schema = read_attr_string(f, "attncamp_schema");
  if (schema != kSchema) ATTNCAMP_THROW(path, ": attncamp_schema is \"", schema, "\", expected \"", kSchema, "\"");

  if (!link_exists(f, "images")) ATTNCAMP_THROW(path, ": dataset /images not found");
  {
    H5Id images = open_dataset(f, "images");
    if (!has_attr(images.get(), "encoding")) {
      ATTNCAMP_THROW(path, ": dataset /images has no attribute 'encoding' (expected \"raw\" or \"jpeg\")");
    }
    const std::string encoding = read_attr_string(images.get(), "encoding");
    if (encoding == "jpeg") {
      ATTNCAMP_THROW(path, ": dataset /images has encoding \"jpeg\", which is not supported yet (only \"raw\"; ",
                     "JPEG decoding comes with the streaming reader)");
    }
    if (encoding != "raw") {
      ATTNCAMP_THROW(path, ": dataset /images has encoding \"", encoding, "\", expected \"raw\" or \"jpeg\"");
    }
  }
  ClassificationData data;
  data.path = path;
  data.images = read_tensor(f, "images", DType::kU8, 4);
  data.labels = read_tensor(f, "labels", DType::kI32, 1);
  const int64_t n = data.images.size(0);
  if (data.labels.size(0) != n) {
    ATTNCAMP_THROW(path, ": dataset /labels has ", data.labels.size(0), " entries but /images has ", n);
  }

  if (!has_attr(f, "num_classes")) ATTNCAMP_THROW(path, ": root attribute num_classes not found");
  data.num_classes = read_attr_int(f, "num_classes");
  if (data.num_classes <= 0) ATTNCAMP_THROW(path, ": num_classes is ", data.num_classes, ", expected > 0");

  if (link_exists(f, "class_names")) {
    data.class_names = read_string_dataset(f, "class_names");
    if (static_cast<int64_t>(data.class_names.size()) != data.num_classes) {
      ATTNCAMP_THROW(path, ": dataset /class_names has ", data.class_names.size(), " names but num_classes is ",
                     data.num_classes);
    }
  }

  const int32_t* labels = data.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= data.num_classes) {
      ATTNCAMP_THROW(path, ": /labels[", i, "] = ", labels[i], " is outside [0, ", data.num_classes, ")");
    }
  }
  return data;
}

}  // namespace attncamp::data
