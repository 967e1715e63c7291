// detection/1 metadata: validation (first problem found is reported, naming the dataset and
// index), writing every dataset but /images, and reading it back with dtype/shape checks; image
// bytes are read separately by row range (read_vlen_bytes_rows, a hyperslab).
#include "data/detection.h"

#include <cmath>
#include <map>
#include <sstream>

#include "data/hdf5.h"
#include "runtime/error.h"
#include "runtime/tensor.h"

namespace attncamp::data {

namespace {

constexpr const char* kSchema = "detection/1";

template <typename T>
Tensor to_tensor(const std::vector<T>& v, const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  ATTNCAMP_CHECK(static_cast<size_t>(t.numel()) == v.size(), "detection: ", v.size(), " values for shape ",
                 shape_str(shape));
  std::copy(v.begin(), v.end(), t.data<T>());
  return t;
}

template <typename T>
std::vector<T> to_vector(const Tensor& t) {
  const T* p = t.data<T>();
  return std::vector<T>(p, p + t.numel());
}

// Reads dataset `name` with `dtype` and the exact `shape` (one dimension -1 = any), or throws.
Tensor read_checked(hid_t f, const std::string& path, const std::string& name, DType dtype, const Shape& shape) {
  if (!link_exists(f, name)) ATTNCAMP_THROW(path, ": dataset /", name, " not found");
  Tensor t = read_tensor(f, name, dtype, static_cast<int>(shape.size()));
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] >= 0 && t.size(static_cast<int>(d)) != shape[d]) {
      std::ostringstream os;
      os << "[";
      for (size_t e = 0; e < shape.size(); ++e)
        os << (e ? ", " : "") << (shape[e] < 0 ? "*" : std::to_string(shape[e]));
      os << "]";
      ATTNCAMP_THROW(path, ": dataset /", name, " has shape ", shape_str(t.shape()), ", expected ", os.str());
    }
  }
  return t;
}

std::string box_str(const float* b) {
  std::ostringstream os;
  os << "[" << b[0] << ", " << b[1] << ", " << b[2] << ", " << b[3] << "]";
  return os.str();
}

}  // namespace

std::string box_problem(double x, double y, double w, double h, int64_t height, int64_t width) {
  if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(w) || !std::isfinite(h)) return "has a NaN or Inf";
  if (w <= 0 || h <= 0) return "has non-positive width or height";
  const double tol = kBoxTolerancePx;
  if (x < -tol || y < -tol || x + w > width + tol || y + h > height + tol) {
    std::ostringstream os;
    os << "lies outside the " << width << "x" << height << " (width x height) image by more than " << tol << " pixel";
    return os.str();
  }
  return "";
}

void validate_detection(const DetectionData& d, const std::string& what) {
  const int64_t n = d.size(), m = d.num_boxes(), k = d.num_classes;
  if (k <= 0) ATTNCAMP_THROW(what, ": num_classes is ", k, ", expected > 0");
  auto expect_len = [&](const char* name, size_t got, int64_t want) {
    if (static_cast<int64_t>(got) != want) {
      ATTNCAMP_THROW(what, ": /", name, " has ", got, " values, expected ", want);
    }
  };
  expect_len("category_ids", d.category_ids.size(), k);
  expect_len("class_names", d.class_names.size(), k);
  expect_len("image_sizes", d.image_sizes.size(), 2 * n);
  expect_len("box_offsets", d.box_offsets.size(), n + 1);
  expect_len("boxes", d.boxes.size(), 4 * m);
  expect_len("box_iscrowd", d.box_iscrowd.size(), m);
  expect_len("box_areas", d.box_areas.size(), m);
  if (!d.sources.empty()) expect_len("sources", d.sources.size(), n);
  if (!d.box_ids.empty()) expect_len("box_ids", d.box_ids.size(), m);

  std::map<int64_t, int64_t> seen;
  for (int64_t c = 0; c < k; ++c) {
    const auto [it, fresh] = seen.emplace(d.category_ids[c], c);
    if (!fresh)
      ATTNCAMP_THROW(what, ": /category_ids[", c, "] = ", it->first, " repeats /category_ids[", it->second, "]");
  }
  seen.clear();
  for (int64_t i = 0; i < n; ++i) {
    const auto [it, fresh] = seen.emplace(d.image_ids[i], i);
    if (!fresh) ATTNCAMP_THROW(what, ": /image_ids[", i, "] = ", it->first, " repeats /image_ids[", it->second, "]");
    const int32_t h = d.image_sizes[2 * i], w = d.image_sizes[2 * i + 1];
    if (h <= 0 || w <= 0) ATTNCAMP_THROW(what, ": /image_sizes[", i, "] = [", h, ", ", w, "] is not positive");
  }
  if (d.box_offsets[0] != 0) ATTNCAMP_THROW(what, ": /box_offsets[0] = ", d.box_offsets[0], ", expected 0");
  for (int64_t i = 1; i <= n; ++i) {
    if (d.box_offsets[i] < d.box_offsets[i - 1]) {
      ATTNCAMP_THROW(what, ": /box_offsets[", i, "] = ", d.box_offsets[i], " is less than /box_offsets[", i - 1,
                     "] = ", d.box_offsets[i - 1], " (offsets must not decrease)");
    }
  }
  if (d.box_offsets[n] != m) {
    ATTNCAMP_THROW(what, ": /box_offsets[", n, "] = ", d.box_offsets[n], ", expected M = ", m,
                   " (the number of boxes)");
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = d.box_offsets[i]; j < d.box_offsets[i + 1]; ++j) {
      const float* b = &d.boxes[4 * j];
      const std::string why = box_problem(b[0], b[1], b[2], b[3], d.image_sizes[2 * i], d.image_sizes[2 * i + 1]);
      if (!why.empty()) {
        ATTNCAMP_THROW(what, ": /boxes[", j, "] = ", box_str(b), " (x, y, w, h) of image ", i, " (id ", d.image_ids[i],
                       ") ", why);
      }
      if (d.box_labels[j] < 0 || d.box_labels[j] >= k) {
        ATTNCAMP_THROW(what, ": /box_labels[", j, "] = ", d.box_labels[j], " is outside [0, ", k, ")");
      }
      if (d.box_iscrowd[j] > 1)
        ATTNCAMP_THROW(what, ": /box_iscrowd[", j, "] = ", int(d.box_iscrowd[j]), " is not 0 or 1");
      if (!std::isfinite(d.box_areas[j]) || d.box_areas[j] < 0) {
        ATTNCAMP_THROW(what, ": /box_areas[", j, "] = ", d.box_areas[j], " is negative or not finite");
      }
    }
  }
}

void write_detection_metadata(hid_t file, const DetectionData& d) {
  // Each dataset gets its vector's own length, so the file shows exactly what `d` holds.
  auto len = [](const auto& v, int64_t per_row) { return static_cast<int64_t>(v.size()) / per_row; };
  write_attr_string(file, "attncamp_schema", kSchema);
  write_attr_int(file, "num_classes", d.num_classes);
  write_string_dataset(file, "class_names", d.class_names);
  write_tensor(file, "category_ids", to_tensor(d.category_ids, {len(d.category_ids, 1)}, DType::kI32));
  write_tensor(file, "image_ids", to_tensor(d.image_ids, {len(d.image_ids, 1)}, DType::kI64));
  write_tensor(file, "image_sizes", to_tensor(d.image_sizes, {len(d.image_sizes, 2), 2}, DType::kI32));
  if (!d.sources.empty()) write_string_dataset(file, "sources", d.sources);
  write_tensor(file, "box_offsets", to_tensor(d.box_offsets, {len(d.box_offsets, 1)}, DType::kI64));
  write_tensor(file, "boxes", to_tensor(d.boxes, {len(d.boxes, 4), 4}, DType::kF32));
  write_tensor(file, "box_labels", to_tensor(d.box_labels, {len(d.box_labels, 1)}, DType::kI32));
  write_tensor(file, "box_iscrowd", to_tensor(d.box_iscrowd, {len(d.box_iscrowd, 1)}, DType::kU8));
  write_tensor(file, "box_areas", to_tensor(d.box_areas, {len(d.box_areas, 1)}, DType::kF32));
  if (!d.box_ids.empty()) write_tensor(file, "box_ids", to_tensor(d.box_ids, {len(d.box_ids, 1)}, DType::kI64));
}

DetectionData load_detection(const std::string& path) {
  H5Id file = open_file(path);
  const hid_t f = file.get();
  check_schema(f, path, kSchema);
  if (!has_attr(f, "num_classes")) ATTNCAMP_THROW(path, ": root attribute num_classes not found");

  DetectionData d;
  d.path = path;
  d.num_classes = read_attr_int(f, "num_classes");
  if (d.num_classes <= 0) ATTNCAMP_THROW(path, ": num_classes is ", d.num_classes, ", expected > 0");
  const int64_t k = d.num_classes;
  d.category_ids = to_vector<int32_t>(read_checked(f, path, "category_ids", DType::kI32, {k}));
  if (!link_exists(f, "class_names")) ATTNCAMP_THROW(path, ": dataset /class_names not found");
  d.class_names = read_string_dataset(f, "class_names");
  d.image_ids = to_vector<int64_t>(read_checked(f, path, "image_ids", DType::kI64, {-1}));
  const int64_t n = d.size();
  d.image_sizes = to_vector<int32_t>(read_checked(f, path, "image_sizes", DType::kI32, {n, 2}));
  if (link_exists(f, "sources")) d.sources = read_string_dataset(f, "sources");
  d.box_offsets = to_vector<int64_t>(read_checked(f, path, "box_offsets", DType::kI64, {n + 1}));
  const Tensor boxes = read_checked(f, path, "boxes", DType::kF32, {-1, 4});
  const int64_t m = boxes.size(0);
  d.boxes = to_vector<float>(boxes);
  d.box_labels = to_vector<int32_t>(read_checked(f, path, "box_labels", DType::kI32, {m}));
  d.box_iscrowd = to_vector<uint8_t>(read_checked(f, path, "box_iscrowd", DType::kU8, {m}));
  d.box_areas = to_vector<float>(read_checked(f, path, "box_areas", DType::kF32, {m}));
  if (link_exists(f, "box_ids")) d.box_ids = to_vector<int64_t>(read_checked(f, path, "box_ids", DType::kI64, {m}));

  if (!link_exists(f, "images")) ATTNCAMP_THROW(path, ": dataset /images not found");
  const std::string type = dataset_type_name(f, "images");
  if (type != "variable-length uint8") {
    ATTNCAMP_THROW(path, ": dataset /images has type ", type, ", expected variable-length uint8 (JPEG bytes)");
  }
  const Shape shape = dataset_shape(f, "images");
  if (shape.size() != 1 || shape[0] != n) {
    ATTNCAMP_THROW(path, ": dataset /images has shape ", shape_str(shape), ", expected [", n, "] (one row per image)");
  }
  {
    H5Id images = open_dataset(f, "images");
    const std::string encoding = has_attr(images.get(), "encoding") ? read_attr_string(images.get(), "encoding") : "";
    if (encoding != "jpeg") {
      ATTNCAMP_THROW(path, ": dataset /images has encoding \"", encoding, "\", expected \"jpeg\"");
    }
  }
  validate_detection(d, path);
  return d;
}

std::vector<std::vector<uint8_t>> read_detection_images(hid_t file, int64_t start, int64_t end) {
  const Shape shape = dataset_shape(file, "images");
  const int64_t n = shape.empty() ? 0 : shape[0];
  if (start < 0 || start > end || end > n) {
    ATTNCAMP_THROW(file_name_of(file), ": /images rows [", start, ", ", end, ") are outside [0, ", n, ")");
  }
  return read_vlen_bytes_rows(file, "images", start, end);
}

std::vector<std::vector<uint8_t>> read_detection_images(const std::string& path, int64_t start, int64_t end) {
  H5Id file = open_file(path);
  return read_detection_images(file.get(), start, end);
}

}  // namespace attncamp::data
