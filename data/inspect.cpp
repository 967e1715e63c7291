// inspect_file: lists an attncamp HDF5 file's datasets and attributes, then runs the checks of
// its schema (docs/data_formats.md; per schema in inspect_schemas.cpp, the shared ones here),
// streaming big datasets by row ranges. Every problem is recorded, not just the first.
#include "data/inspect.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <sstream>

#include "data/hdf5.h"
#include "data/inspect_internal.h"
#include "runtime/error.h"
#include "runtime/tensor.h"

namespace attncamp::data {

namespace {

using detail::str_cat;

constexpr int64_t kVlenChunkRows = 256;  // JPEG rows read at a time
constexpr int64_t kMaxClassLines = 100;  // above this many classes, histograms list non-empty ones only

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

}  // namespace

namespace inspect_detail {

int64_t chunk_rows(int64_t chunk_bytes, int64_t row_bytes) {
  return std::max<int64_t>(1, chunk_bytes / std::max<int64_t>(1, row_bytes));
}

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(6);
  os << v;
  return os.str();
}

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

}  // namespace inspect_detail

using inspect_detail::Inspector;

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
