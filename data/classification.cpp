// classification/1 loading: checks the schema attribute, then /images (uint8 rank 4 for encoding
// "raw"; variable-length bytes decoded to RGB for "jpeg"), /labels (int32 rank 1, same N), num_classes, optional
// /class_names and every label's range, in that order, so the first problem found is the one reported.
#include "data/classification.h"

#include <cstring>

#include "data/hdf5.h"
#include "data/image_codec.h"

namespace attncamp::data {

namespace {
constexpr const char* kSchema = "classification/1";

// Decodes every row of the variable-length /images dataset to RGB: u8 [N, H, W, 3].
Tensor decode_jpeg_images(hid_t f, const std::string& path) {
  const Shape shape = dataset_shape(f, "images");
  if (shape.size() != 1) {
    ATTNCAMP_THROW(path, ": dataset /images has encoding \"jpeg\" but rank ", shape.size(),
                   ", expected rank 1 (one variable-length byte string per image)");
  }
  const int64_t n = shape[0];
  const auto rows = read_vlen_bytes_rows(f, "images", 0, n);
  if (n == 0) return Tensor::empty({0, 0, 0, 3}, DType::kU8);
  int height = 0, width = 0;
  image_size(rows[0].data(), rows[0].size(), &height, &width, path + ": /images[0]");
  Tensor images = Tensor::empty({n, height, width, 3}, DType::kU8);
  const size_t image_bytes = static_cast<size_t>(height) * width * 3;
  // Decode in parallel; each image keeps its error, and the lowest failing index is reported.
  std::vector<std::string> errors(static_cast<size_t>(n));
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < n; ++i) {
    const std::string what = path + ": /images[" + std::to_string(i) + "]";
    try {
      const Image img = decode_image(rows[i].data(), rows[i].size(), 3, what);
      if (img.height != height || img.width != width) {
        ATTNCAMP_THROW(what, " is ", img.height, "x", img.width, " but /images[0] is ", height, "x", width,
                       "; loading a whole file needs equal sizes (convert with --crop)");
      }
      std::memcpy(images.data<uint8_t>() + i * image_bytes, img.pixels.data(), image_bytes);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  for (const auto& e : errors) {
    if (!e.empty()) throw Error(e);
  }
  return images;
}
}  // namespace

ClassificationData load_classification(const std::string& path) {
  H5Id file = open_file(path);
  const hid_t f = file.get();

  check_schema(f, path, kSchema);

  if (!link_exists(f, "images")) ATTNCAMP_THROW(path, ": dataset /images not found");
  std::string encoding;
  {
    H5Id images = open_dataset(f, "images");
    if (!has_attr(images.get(), "encoding")) {
      ATTNCAMP_THROW(path, ": dataset /images has no attribute 'encoding' (expected \"raw\" or \"jpeg\")");
    }
    encoding = read_attr_string(images.get(), "encoding");
    if (encoding != "raw" && encoding != "jpeg") {
      ATTNCAMP_THROW(path, ": dataset /images has encoding \"", encoding, "\", expected \"raw\" or \"jpeg\"");
    }
  }
  ClassificationData data;
  data.path = path;
  data.images = encoding == "jpeg" ? decode_jpeg_images(f, path) : read_tensor(f, "images", DType::kU8, 4);
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
