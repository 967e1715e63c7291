// The Inspector behind inspect_file, shared by inspect.cpp (checks common to several schemas, the
// entry points) and inspect_schemas.cpp (one method per schema). It holds the open file and the
// report, and records report lines and problems. Internal to data/; the public API is inspect.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/hdf5.h"
#include "data/inspect.h"
#include "runtime/error.h"
#include "runtime/tensor.h"

namespace attncamp::data::inspect_detail {

using detail::str_cat;

// Rows per streamed range of at most `chunk_bytes` bytes (at least one row).
int64_t chunk_rows(int64_t chunk_bytes, int64_t row_bytes);
// `v` with 6 significant digits.
std::string fmt(double v);
// A scalar attribute's value for display (strings quoted and cut at 60 characters).
std::string attr_text(hid_t obj, const std::string& name);
// H5Lvisit callback: appends the path of each dataset to `out` (a std::vector<std::string>*).
herr_t collect_dataset(hid_t group, const char* name, const H5L_info_t*, void* out);

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

}  // namespace attncamp::data::inspect_detail
