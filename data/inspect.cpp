// inspect_file: lists an attncamp HDF5 file's datasets and attributes, then runs the checks of
// its schema (docs/data_formats.md), streaming big datasets by row ranges. Every problem is
// recorded (dataset and index in each) instead of stopping at the first, so one run shows all.
#include "data/inspect.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "data/detection.h"
#include "data/hdf5.h"
#include "runtime/error.h"
#include "runtime/tensor.h"

namespace attncamp::data {

namespace {

using detail::str_cat;

constexpr int64_t kVlenChunkRows = 256;  // JPEG rows read at a time
constexpr int64_t kMaxClassLines = 100;  // above this many classes, histograms list non-empty ones only

// Rows per streamed range of at most `chunk_bytes` bytes (at least one row).
int64_t chunk_rows(int64_t chunk_bytes, int64_t row_bytes) {
  return std::max<int64_t>(1, chunk_bytes / std::max<int64_t>(1, row_bytes));
}

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(6);
  os << v;
  return os.str();
}

// "" when `bytes` decode completely as a JPEG or PNG image, else the decoder's reason.
std::string decode_error(const std::vector<uint8_t>& bytes) {
  if (bytes.size() >= 8 && bytes[0] == 0x89 && bytes[1] == 'P') {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) return image.message;
    image.format = PNG_FORMAT_RGB;
    std::vector<uint8_t> out(PNG_IMAGE_SIZE(image));
    const bool ok = png_image_finish_read(&image, nullptr, out.data(), 0, nullptr);
    std::string msg = ok ? "" : image.message;
    png_image_free(&image);
    return msg;
  }
  tjhandle tj = tjInitDecompress();
  if (tj == nullptr) return "cannot start the JPEG decoder";
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  std::string msg;
  if (tjDecompressHeader3(tj, bytes.data(), bytes.size(), &w, &h, &subsamp, &colorspace) != 0) {
    msg = tjGetErrorStr2(tj);
  } else {
    // CMYK/YCCK JPEGs (some ImageNet files) cannot be converted to RGB by libjpeg-turbo.
    const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
    std::vector<uint8_t> out(static_cast<size_t>(w) * h * (cmyk ? 4 : 3));
    if (tjDecompress2(tj, bytes.data(), bytes.size(), out.data(), w, 0, h, cmyk ? TJPF_CMYK : TJPF_RGB, 0) != 0) {
      msg = tjGetErrorStr2(tj);  // warnings (truncated or corrupt data) count too
    }
  }
  tjDestroy(tj);
  return msg;
}

bool has_image_signature(const std::vector<uint8_t>& b) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return true;
  return b.size() >= 8 && std::equal(kPng, kPng + 8, b.begin());
}

// A scalar attribute's value for display (strings quoted and cut at 60 characters).
std::string attr_text(hid_t obj, const std::string& name) {
  try {
    switch (attr_kind(obj, name)) {
      case AttrKind::kInt: return std::to_string(read_attr_int(obj, name));
      case AttrKind::kFloat: return fmt(read_attr_double(obj, name));
      case AttrKind::kString: {
        std::string s = read_attr_string(obj, name);
        std::replace(s.begin(), s.end(), '\n', ' ');
        return "\"" + (s.size() > 60 ? s.substr(0, 57) + "..." : s) + "\"";
      }
      case AttrKind::kOther: {
        std::string s = "[";
        for (double v : read_attr_doubles(obj, name)) s += (s.size() > 1 ? ", " : "") + fmt(v);
        return s + "]";
      }
    }
  } catch (const Error&) {
  }
  return "(unreadable or unsupported type)";
}

herr_t collect_dataset(hid_t group, const char* name, const H5L_info_t*, void* out) {
  H5O_info_t info;
  if (H5Oget_info_by_name(group, name, &info, H5P_DEFAULT) >= 0 && info.type == H5O_TYPE_DATASET) {
    static_cast<std::vector<std::string>*>(out)->push_back(name);
  }
  return 0;
}

// Holds the file and the report while the checks of one schema run.
class Inspector {
 public:
  Inspector(hid_t f, InspectReport& r, const InspectOptions& o) : f_(f), r_(r), o_(o) {}

  template <typename... Args>
  void line(const Args&... args) {
    r_.lines.push_back(str_cat(args...));
  }
  template <typename... Args>
  void problem(const Args&... args) {
    ++r_.problem_count;
    if (static_cast<int64_t>(r_.problems.size()) < o_.max_problems) r_.problems.push_back(str_cat(args...));
  }

  // Checks that dataset `name` exists with element type `type` and rank `rank`; records each
  // problem and returns false if the dataset cannot be used. `shape` receives its shape.
  bool expect(const std::string& name, const std::string& type, int rank, Shape* shape) {
    if (!link_exists(f_, name)) return problem("/", name, ": required dataset is missing"), false;
    const std::string t = dataset_type_name(f_, name);
    const Shape s = dataset_shape(f_, name);
    bool ok = true;
    if (t != type) problem("/", name, ": dtype is ", t, ", expected ", type), ok = false;
    if (static_cast<int>(s.size()) != rank) {
      problem("/", name, ": rank is ", s.size(), " (shape ", shape_str(s), "), expected ", rank), ok = false;
    }
    if (shape != nullptr) *shape = s;
    return ok;
  }
  // As expect, and checks that dimension 0 is `n` (when `n` >= 0).
  bool expect_rows(const std::string& name, const std::string& type, int rank, int64_t n, Shape* shape = nullptr) {
    Shape s;
    if (!expect(name, type, rank, &s)) return false;
    if (shape != nullptr) *shape = s;
    if (n >= 0 && s[0] != n) return problem("/", name, ": has ", s[0], " rows, expected ", n), false;
    return true;
  }

  // "3 dog" (index and name) or "3" when the file has no name for class `c`.
  std::string class_label(int64_t c) const {
    return c < static_cast<int64_t>(r_.class_names.size()) ? str_cat(c, " ", r_.class_names[c]) : std::to_string(c);
  }

  void list_datasets();
  void check_classes();
  void check_labels(const std::string& name, const std::string& title);
  // Checks /images (raw uint8 [N,H,W,C] or JPEG bytes [N]); returns N or -1.
  int64_t check_images(Shape* raw_shape);
  void classification();
  void detection();
  void eeg();
  void checkpoint();

 private:
  void check_boxes(const Tensor& offsets, const Tensor& sizes, const Tensor& labels, int64_t m);

  hid_t f_;
  InspectReport& r_;
  const InspectOptions& o_;
};

void Inspector::list_datasets() {
  std::vector<std::string> names;
  H5Lvisit(f_, H5_INDEX_NAME, H5_ITER_INC, collect_dataset, &names);
  std::string attrs;
  for (const auto& a : attr_names(f_)) attrs += " " + a + "=" + attr_text(f_, a);
  line("root attributes:", attrs.empty() ? " (none)" : attrs);
  line("datasets:");
  for (const auto& name : names) {
    H5Id ds = open_dataset(f_, name);
    std::string text = str_cat("  /", name, "  ", dataset_type_name(f_, name), " ", shape_str(dataset_shape(f_, name)));
    for (const auto& a : attr_names(ds.get())) text += "  " + a + "=" + attr_text(ds.get(), a);
    line(text);
  }
}

// num_classes (root attribute, > 0) and /class_names ([num_classes] strings, optional).
void Inspector::check_classes() {
  if (!has_attr(f_, "num_classes")) {
    problem("root attribute num_classes is missing");
  } else if (attr_kind(f_, "num_classes") != AttrKind::kInt) {
    problem("root attribute num_classes is not an integer");
  } else {
    r_.num_classes = read_attr_int(f_, "num_classes");
    if (r_.num_classes <= 0) problem("num_classes is ", r_.num_classes, ", expected > 0"), r_.num_classes = -1;
  }
  if (!link_exists(f_, "class_names")) {
    line("class names: none (/class_names is absent)");
    return;
  }
  Shape s;
  if (!expect("class_names", "string", 1, &s)) return;
  r_.class_names = read_string_dataset(f_, "class_names");
  if (r_.num_classes > 0 && static_cast<int64_t>(r_.class_names.size()) != r_.num_classes) {
    problem("/class_names: has ", r_.class_names.size(), " names, expected num_classes = ", r_.num_classes);
  }
  // An empty name is fine for a class the source never named (an ImageNet subset converted with
  // the standard 1000-class indices); check_labels flags one only when the class has samples.
  const int64_t unnamed = std::count(r_.class_names.begin(), r_.class_names.end(), std::string());
  if (unnamed > 0) line("class names: ", unnamed, " of ", r_.class_names.size(), " are empty");
}

// Range check and histogram of an int32 [N] label dataset already checked by expect_rows.
void Inspector::check_labels(const std::string& name, const std::string& title) {
  const Tensor labels = read_tensor(f_, name, DType::kI32, 1);
  const int32_t* l = labels.data<int32_t>();
  const int64_t k = r_.num_classes;
  r_.class_counts.assign(std::max<int64_t>(k, 0), 0);
  for (int64_t i = 0; i < labels.numel(); ++i) {
    if (k > 0 && (l[i] < 0 || l[i] >= k)) {
      problem("/", name, "[", i, "] = ", l[i], " is outside [0, ", k, ")");
    } else if (k > 0) {
      ++r_.class_counts[l[i]];
    }
  }
  if (k <= 0) return;
  const auto [lo, hi] = std::minmax_element(r_.class_counts.begin(), r_.class_counts.end());
  const int64_t empty = std::count(r_.class_counts.begin(), r_.class_counts.end(), 0);
  line(title, " (/", name, "): min ", *lo, " max ", *hi, ", ", empty, " of ", k, " classes empty",
       k > kMaxClassLines ? " (empty ones not listed)" : "");
  for (int64_t c = 0; c < k; ++c) {
    if (k <= kMaxClassLines || r_.class_counts[c] > 0) line("  ", class_label(c), ": ", r_.class_counts[c]);
    if (r_.class_counts[c] > 0 && c < static_cast<int64_t>(r_.class_names.size()) && r_.class_names[c].empty()) {
      problem("/class_names[", c, "] is empty but class ", c, " has ", r_.class_counts[c], " samples");
    }
  }
}

int64_t Inspector::check_images(Shape* raw_shape) {
  if (!link_exists(f_, "images")) return problem("/images: required dataset is missing"), -1;
  H5Id ds = open_dataset(f_, "images");
  if (!has_attr(ds.get(), "encoding")) return problem("/images: attribute encoding is missing"), -1;
  if (attr_kind(ds.get(), "encoding") != AttrKind::kString)
    return problem("/images: attribute encoding is not a string"), -1;
  const std::string enc = read_attr_string(ds.get(), "encoding");
  if (enc == "raw") {
    if (!expect("images", "uint8", 4, raw_shape)) return -1;
    const Shape& s = *raw_shape;
    const int64_t row = s[1] * s[2] * s[3], step = chunk_rows(o_.chunk_bytes, row);
    int min = 255, max = 0;
    double sum = 0;
    for (int64_t start = 0; start < s[0]; start += step) {
      const int64_t end = std::min(s[0], start + step);
      const Tensor rows = read_rows(f_, "images", start, end, DType::kU8);
      const uint8_t* p = rows.data<uint8_t>();
      for (int64_t i = 0; i < rows.numel(); ++i)
        min = std::min<int>(min, p[i]), max = std::max<int>(max, p[i]), sum += p[i];
    }
    if (s[0] > 0 && row > 0) {
      r_.pixel_min = min, r_.pixel_max = max;
      line("pixels (all ", s[0], " images): min ", min, " max ", max, " mean ", fmt(sum / (s[0] * row)));
    }
    return s[0];
  }
  if (enc != "jpeg") return problem("/images: encoding is \"", enc, "\", expected \"raw\" or \"jpeg\""), -1;
  Shape s;
  if (!expect("images", "variable-length uint8", 1, &s)) return -1;
  int64_t bytes = 0, decoded = 0;
  for (int64_t start = 0; start < s[0]; start += kVlenChunkRows) {
    const int64_t end = std::min(s[0], start + kVlenChunkRows);
    const auto rows = read_vlen_bytes_rows(f_, "images", start, end);
    for (int64_t i = start; i < end; ++i) {
      const auto& b = rows[i - start];
      bytes += static_cast<int64_t>(b.size());
      if (b.empty()) {
        problem("/images[", i, "] is empty");
      } else if (!has_image_signature(b)) {
        problem("/images[", i, "] does not start with a JPEG or PNG signature");
      } else if (o_.decode_images) {
        const std::string why = decode_error(b);
        if (!why.empty()) problem("/images[", i, "] does not decode: ", why);
        ++decoded;
      }
    }
  }
  line("encoded images: ", s[0], " rows, ", bytes, " bytes",
       o_.decode_images ? str_cat(", ", decoded, " decoded") : "");
  return s[0];
}

void Inspector::classification() {
  check_classes();
  Shape raw;
  const int64_t n = check_images(&raw);
  Shape ls;
  if (expect("labels", "int32", 1, &ls)) {
    if (n >= 0 && ls[0] != n) problem("/labels: has ", ls[0], " rows but /images has ", n);
    r_.n = ls[0];
    check_labels("labels", "class histogram");
  }
  if (link_exists(f_, "sources")) expect_rows("sources", "string", 1, r_.n);
  if (r_.n < 0) r_.n = n;
  line("N: ", r_.n, ", num_classes: ", r_.num_classes);
}

void Inspector::checkpoint() {
  std::vector<std::string> names;
  H5Lvisit(f_, H5_INDEX_NAME, H5_ITER_INC, collect_dataset, &names);
  static const std::set<std::string> kTypes = {"float32", "float64", "int32", "int64", "uint8"};
  for (const auto& name : names) {
    const std::string t = dataset_type_name(f_, name);
    if (kTypes.count(t) == 0) {
      problem("/", name, ": dtype is ", t, ", expected float32, float64, int32, int64 or uint8");
      continue;
    }
    if (t != "float32" && t != "float64") continue;
    const Tensor x = read_tensor(f_, name);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double v = t == "float32" ? x.data<float>()[i] : x.data<double>()[i];
      if (!std::isfinite(v) && bad++ == 0) first = i;
    }
    if (bad > 0) problem("/", name, ": ", bad, " NaN/Inf values (first at flat index ", first, ")");
  }
  line("tensors: ", names.size());
}

void Inspector::detection() {
  check_classes();
  Shape raw, s;
  int64_t n = check_images(&raw);
  Tensor sizes, offsets, labels;
  if (expect_rows("image_sizes", "int32", 2, n, &s)) {
    if (s[1] != 2) {
      problem("/image_sizes: shape is ", shape_str(s), ", expected [N, 2] (height, width)");
    } else {
      sizes = read_tensor(f_, "image_sizes", DType::kI32, 2);
      const int32_t* hw = sizes.data<int32_t>();
      int32_t lo[2] = {std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::max()}, hi[2] = {0, 0};
      for (int64_t i = 0; i < s[0]; ++i) {
        const int32_t h = hw[2 * i], w = hw[2 * i + 1];
        if (h <= 0 || w <= 0) problem("/image_sizes[", i, "] = [", h, ", ", w, "] is not positive");
        if (raw.size() == 4 && (h != raw[1] || w != raw[2])) {
          problem("/image_sizes[", i, "] = [", h, ", ", w, "] but /images rows are ", raw[1], "x", raw[2]);
        }
        for (int d = 0; d < 2; ++d) lo[d] = std::min(lo[d], hw[2 * i + d]), hi[d] = std::max(hi[d], hw[2 * i + d]);
      }
      if (s[0] > 0) line("image height ", lo[0], "..", hi[0], ", width ", lo[1], "..", hi[1]);
      if (n < 0) n = s[0];
    }
  }
  r_.n = n;
  if (expect_rows("image_ids", "int64", 1, n, &s)) {
    const Tensor ids = read_tensor(f_, "image_ids", DType::kI64, 1);
    std::map<int64_t, int64_t> first;
    for (int64_t i = 0; i < ids.numel(); ++i) {
      const int64_t id = ids.data<int64_t>()[i];
      const auto [it, fresh] = first.emplace(id, i);
      if (!fresh) problem("/image_ids[", i, "] = ", id, " repeats /image_ids[", it->second, "]");
    }
  }
  int64_t m = -1;
  if (expect("boxes", "float32", 2, &s)) {
    if (s[1] != 4)
      problem("/boxes: shape is ", shape_str(s), ", expected [M, 4] (x, y, w, h)");
    else
      m = s[0];
  }
  r_.boxes = m;
  if (expect_rows("box_offsets", "int64", 1, n >= 0 ? n + 1 : -1, &s) && s[0] > 0) {
    offsets = read_tensor(f_, "box_offsets", DType::kI64, 1);
    const int64_t* o = offsets.data<int64_t>();
    const int64_t before = r_.problem_count;
    if (o[0] != 0) problem("/box_offsets[0] = ", o[0], ", expected 0");
    for (int64_t i = 1; i < s[0]; ++i) {
      if (o[i] < o[i - 1])
        problem("/box_offsets[", i, "] = ", o[i], " is less than /box_offsets[", i - 1, "] = ", o[i - 1]);
    }
    if (m >= 0 && o[s[0] - 1] != m) problem("/box_offsets[", s[0] - 1, "] = ", o[s[0] - 1], ", expected M = ", m);
    if (r_.problem_count != before) {
      offsets = Tensor();
    } else if (s[0] > 1) {
      int64_t lo = o[1] - o[0], hi = lo;
      for (int64_t i = 1; i < s[0]; ++i) lo = std::min(lo, o[i] - o[i - 1]), hi = std::max(hi, o[i] - o[i - 1]);
      r_.min_boxes_per_image = lo, r_.max_boxes_per_image = hi;
      line("boxes per image: min ", lo, " mean ", fmt(static_cast<double>(o[s[0] - 1]) / (s[0] - 1)), " max ", hi);
    }
  }
  if (expect_rows("box_labels", "int32", 1, m)) {
    check_labels("box_labels", "boxes per class");
    labels = read_tensor(f_, "box_labels", DType::kI32, 1);
  }
  if (expect_rows("box_iscrowd", "uint8", 1, m, &s)) {
    const Tensor c = read_tensor(f_, "box_iscrowd", DType::kU8, 1);
    int64_t crowd = 0;
    for (int64_t j = 0; j < c.numel(); ++j) {
      const int v = c.data<uint8_t>()[j];
      if (v > 1) problem("/box_iscrowd[", j, "] = ", v, " is not 0 or 1");
      crowd += v == 1;
    }
    line("crowd boxes: ", crowd);
  }
  if (expect_rows("box_areas", "float32", 1, m)) {
    const Tensor a = read_tensor(f_, "box_areas", DType::kF32, 1);
    for (int64_t j = 0; j < a.numel(); ++j) {
      const float v = a.data<float>()[j];
      if (!std::isfinite(v) || v < 0) problem("/box_areas[", j, "] = ", v, " is negative or not finite");
    }
  }
  if (expect_rows("category_ids", "int32", 1, r_.num_classes)) {
    const Tensor ids = read_tensor(f_, "category_ids", DType::kI32, 1);
    std::map<int32_t, int64_t> first;
    for (int64_t k = 0; k < ids.numel(); ++k) {
      const auto [it, fresh] = first.emplace(ids.data<int32_t>()[k], k);
      if (!fresh) problem("/category_ids[", k, "] = ", it->first, " repeats /category_ids[", it->second, "]");
    }
  }
  if (link_exists(f_, "box_ids")) expect_rows("box_ids", "int64", 1, m);
  if (link_exists(f_, "sources")) expect_rows("sources", "string", 1, n);
  if (m >= 0) check_boxes(offsets, sizes, labels, m);
}

// Box sizes and coordinates; with valid offsets and sizes also whether each box lies inside its
// image, and with labels the images per class.
void Inspector::check_boxes(const Tensor& offsets, const Tensor& sizes, const Tensor& labels, int64_t m) {
  const Tensor boxes = read_tensor(f_, "boxes", DType::kF32, 2);
  const float* b = boxes.data<float>();
  const bool per_image = offsets.defined() && sizes.defined() && offsets.numel() == sizes.size(0) + 1;
  float lo[4], hi[4];
  std::fill(lo, lo + 4, std::numeric_limits<float>::infinity());
  std::fill(hi, hi + 4, -std::numeric_limits<float>::infinity());
  int64_t image = 0;
  for (int64_t j = 0; j < m; ++j) {
    const float* x = b + 4 * j;
    const std::string box = str_cat("/boxes[", j, "] = [", x[0], ", ", x[1], ", ", x[2], ", ", x[3], "]");
    if (!(std::isfinite(x[0]) && std::isfinite(x[1]) && std::isfinite(x[2]) && std::isfinite(x[3]))) {
      problem(box, " is not finite");
      continue;
    }
    for (int d = 0; d < 4; ++d) lo[d] = std::min(lo[d], x[d]), hi[d] = std::max(hi[d], x[d]);
    if (!per_image) {
      if (x[2] <= 0 || x[3] <= 0) problem(box, " has non-positive width or height");
      continue;
    }
    while (offsets.data<int64_t>()[image + 1] <= j) ++image;
    const int32_t h = sizes.data<int32_t>()[2 * image], w = sizes.data<int32_t>()[2 * image + 1];
    const std::string why = box_problem(x[0], x[1], x[2], x[3], h, w);
    if (!why.empty()) problem(box, " (x, y, w, h) of image ", image, " ", why);
  }
  if (m > 0) {
    line("boxes: ", m, "; x ", lo[0], "..", hi[0], ", y ", lo[1], "..", hi[1], ", w ", lo[2], "..", hi[2], ", h ",
         lo[3], "..", hi[3]);
  }
  if (!offsets.defined() || !labels.defined() || r_.num_classes <= 0) return;
  r_.images_per_class.assign(r_.num_classes, 0);
  const int64_t* o = offsets.data<int64_t>();
  for (int64_t i = 0; i + 1 < offsets.numel(); ++i) {
    std::set<int32_t> seen;
    for (int64_t j = o[i]; j < o[i + 1]; ++j) {
      const int32_t c = labels.data<int32_t>()[j];
      if (c >= 0 && c < r_.num_classes && seen.insert(c).second) ++r_.images_per_class[c];
    }
  }
  line("images per class:");
  for (int64_t c = 0; c < r_.num_classes; ++c) line("  ", class_label(c), ": ", r_.images_per_class[c]);
}

void Inspector::eeg() {
  check_classes();
  Shape s;
  int64_t n = -1, ch = -1, t = -1;
  if (expect("signals", "float32", 3, &s)) n = s[0], ch = s[1], t = s[2];
  if (expect_rows("labels", "int32", 1, n, &s)) {
    check_labels("labels", "class histogram");
    if (n < 0) n = s[0];
  }
  r_.n = n;
  for (const char* name : {"subjects", "runs"}) {
    if (!expect_rows(name, "int32", 1, n)) continue;
    const Tensor v = read_tensor(f_, name, DType::kI32, 1);
    std::map<int32_t, int64_t> counts;
    for (int64_t i = 0; i < v.numel(); ++i) ++counts[v.data<int32_t>()[i]];
    std::string text;
    for (const auto& [id, c] : counts) text += str_cat(" ", id, " (", c, ")");
    line(name, " (epochs):", text);
  }
  std::vector<std::string> channel_names;
  if (expect_rows("channel_names", "string", 1, ch)) channel_names = read_string_dataset(f_, "channel_names");
  if (!has_attr(f_, "sample_rate_hz") || attr_kind(f_, "sample_rate_hz") != AttrKind::kFloat) {
    problem("root attribute sample_rate_hz is missing or not a float");
  } else if (!(read_attr_double(f_, "sample_rate_hz") > 0)) {
    problem("sample_rate_hz is ", read_attr_double(f_, "sample_rate_hz"), ", expected > 0");
  }
  if (!has_attr(f_, "tmin_s") || attr_kind(f_, "tmin_s") != AttrKind::kFloat) {
    problem("root attribute tmin_s is missing or not a float");
  }
  if (!has_attr(f_, "band_hz")) {
    problem("root attribute band_hz is missing");
  } else {
    std::vector<double> band;
    try {
      band = read_attr_doubles(f_, "band_hz");
    } catch (const Error&) {
    }
    if (band.size() != 2 || !(band[0] >= 0 && band[0] <= band[1] && std::isfinite(band[1]))) {
      problem("band_hz is ", attr_text(f_, "band_hz"), ", expected [low, high] with 0 <= low <= high");
    }
  }
  if (!has_attr(f_, "source_files")) problem("root attribute source_files is missing");
  if (ch <= 0 || t <= 0) return;

  std::vector<double> sum(ch, 0), sumsq(ch, 0);
  std::vector<int64_t> count(ch, 0);
  r_.channels.assign(
      ch, ChannelStats{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), 0, 0, 0});
  const int64_t step = chunk_rows(o_.chunk_bytes, ch * t * 4);
  for (int64_t start = 0; start < n; start += step) {
    const int64_t end = std::min(n, start + step);
    const Tensor rows = read_rows(f_, "signals", start, end, DType::kF32);
    for (int64_t e = start; e < end; ++e) {
      int64_t bad = 0, first_c = 0, first_t = 0;
      for (int64_t c = 0; c < ch; ++c) {
        const float* x = rows.data<float>() + ((e - start) * ch + c) * t;
        ChannelStats& st = r_.channels[c];
        for (int64_t k = 0; k < t; ++k) {
          const double v = x[k];
          if (!std::isfinite(v)) {
            if (bad++ == 0) first_c = c, first_t = k;
            ++st.nonfinite;
            continue;
          }
          st.min = std::min(st.min, v), st.max = std::max(st.max, v);
          sum[c] += v, sumsq[c] += v * v, ++count[c];
        }
      }
      if (bad > 0) {
        const std::string nm = first_c < static_cast<int64_t>(channel_names.size()) ? " " + channel_names[first_c] : "";
        problem("/signals[", e, "]: ", bad, " NaN/Inf values (first at channel ", first_c, nm, ", sample ", first_t,
                ")");
      }
    }
  }
  line("signals (uV), per channel over ", n, " epochs x ", t, " samples:");
  for (int64_t c = 0; c < ch; ++c) {
    ChannelStats& st = r_.channels[c];
    if (count[c] > 0) {
      st.mean = sum[c] / count[c];
      st.std = std::sqrt(std::max(0.0, sumsq[c] / count[c] - st.mean * st.mean));
    } else {
      st.min = st.max = 0;
    }
    const std::string nm = c < static_cast<int64_t>(channel_names.size()) ? channel_names[c] : std::to_string(c);
    line("  ", nm, ": min ", fmt(st.min), " max ", fmt(st.max), " mean ", fmt(st.mean), " std ", fmt(st.std),
         st.nonfinite > 0 ? str_cat(" NaN/Inf ", st.nonfinite) : "");
  }
}

}  // namespace

InspectReport inspect_file(const std::string& path, const InspectOptions& options) {
  H5Id file = open_file(path);
  InspectReport r;
  r.path = path;
  Inspector in(file.get(), r, options);
  in.line("file: ", path);
  try {
    if (!has_attr(file.get(), "attncamp_schema")) {
      in.problem(
          "root attribute attncamp_schema is missing (expected classification/1, detection/1, eeg/1 or checkpoint/1)");
    } else if (attr_kind(file.get(), "attncamp_schema") != AttrKind::kString) {
      in.problem("root attribute attncamp_schema is not a string");
    } else {
      r.schema = read_attr_string(file.get(), "attncamp_schema");
    }
    in.line("schema: ", r.schema.empty() ? "(none)" : r.schema);
    in.list_datasets();
    if (r.schema == "classification/1") {
      in.classification();
    } else if (r.schema == "detection/1") {
      in.detection();
    } else if (r.schema == "eeg/1") {
      in.eeg();
    } else if (r.schema == "checkpoint/1") {
      in.checkpoint();
    } else if (!r.schema.empty()) {
      in.problem("attncamp_schema is \"", r.schema,
                 "\", expected classification/1, detection/1, eeg/1 or checkpoint/1");
    }
  } catch (const Error& e) {
    in.problem("checks stopped early: ", e.what());
  }
  return r;
}

InspectReport inspect_file(const std::string& path, int64_t max_problems) {
  InspectOptions options;
  options.max_problems = max_problems;
  return inspect_file(path, options);
}

std::string format_report(const InspectReport& r) {
  std::string out;
  for (const auto& l : r.lines) out += l + "\n";
  if (r.valid()) return out + "valid: no problems found\n";
  out += str_cat(r.problem_count, " problem", r.problem_count == 1 ? "" : "s", " found:\n");
  for (const auto& p : r.problems) out += "  " + p + "\n";
  const int64_t more = r.problem_count - static_cast<int64_t>(r.problems.size());
  if (more > 0) out += str_cat("  ... and ", more, " more (raise --max-problems to list them)\n");
  return out;
}

}  // namespace attncamp::data
