// Field-by-field JSON reading with errors that name the file, the item and the field (see
// data/json_fields.h).
#include "data/json_fields.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "data/image_codec.h"
#include "runtime/error.h"

namespace attncamp::data::json_fields {

namespace {

// Builds the DOM as nlohmann's own SAX DOM parser does, except that the value of every key
// "segmentation" (at any depth) is skipped as it streams by. (nlohmann's parser callback can drop
// values too, but builds each one first and is an order of magnitude slower.)
class DomWithoutSegmentations : public nlohmann::json_sax<json> {
 public:
  DomWithoutSegmentations(const std::string& path, json& root) : path_(path), root_(root) {}

  bool null() override { return put(nullptr); }
  bool boolean(bool v) override { return put(v); }
  bool number_integer(number_integer_t v) override { return put(v); }
  bool number_unsigned(number_unsigned_t v) override { return put(v); }
  bool number_float(number_float_t v, const string_t&) override { return put(v); }
  bool string(string_t& v) override { return put(std::move(v)); }
  bool binary(binary_t& v) override { return put(json::binary(std::move(v))); }
  bool start_object(std::size_t) override { return open(json::object()); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (skip_depth_ > 0) return true;
    if (k == "segmentation") {
      skip_next_ = true;
    } else {
      slot_ = &(*stack_.back())[k];
    }
    return true;
  }
  bool parse_error(std::size_t byte, const std::string&, const nlohmann::detail::exception& e) override {
    ATTNCAMP_THROW(path_, ": malformed JSON at byte ", byte, " (", e.what(), ")");
  }

 private:
  // Places a value where the parse stands; nullptr when it is (inside) a skipped value.
  json* place(json&& v) {
    if (skip_depth_ > 0) return nullptr;
    if (skip_next_) {
      skip_next_ = false;
      return nullptr;
    }
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    *slot_ = std::move(v);
    return slot_;
  }
  bool put(json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(json&& container) {
    if (skip_depth_ == 0 && skip_next_) {
      skip_next_ = false;
      skip_depth_ = 1;
    } else if (skip_depth_ > 0) {
      ++skip_depth_;
    } else {
      stack_.push_back(place(std::move(container)));
    }
    return true;
  }
  bool close() {
    if (skip_depth_ > 0) {
      --skip_depth_;
    } else {
      stack_.pop_back();
    }
    return true;
  }

  const std::string& path_;
  json& root_;
  std::vector<json*> stack_;  // the open containers (parents never grow while a child is open)
  json* slot_ = nullptr;      // the object member the next value goes into
  bool skip_next_ = false;    // the next value belongs to "segmentation"
  int skip_depth_ = 0;        // > 0 while inside a skipped container
};

}  // namespace

json parse_file_without_segmentations(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  json root;
  DomWithoutSegmentations builder(path, root);
  json::sax_parse(bytes.begin(), bytes.end(), &builder);
  return root;
}

std::string item(const char* array, size_t i) { return std::string(array) + "[" + std::to_string(i) + "]"; }

std::string item(const char* array, size_t i, int64_t id) {
  return item(array, i) + " (id " + std::to_string(id) + ")";
}

const json& field(const json& obj, const char* name, const Where& w) {
  const auto it = obj.find(name);
  if (it == obj.end()) ATTNCAMP_THROW(w.path, ": ", w.item, ": required field '", name, "' is missing");
  return *it;
}

int64_t int_field(const json& obj, const char* name, const Where& w) {
  const json& v = field(obj, name, w);
  if (!v.is_number_integer()) {
    ATTNCAMP_THROW(w.path, ": ", w.item, ": field '", name, "' is ", v.type_name(), " ", v.dump(),
                   ", expected an integer");
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    ATTNCAMP_THROW(w.path, ": ", w.item, ": field '", name, "' = ", v.dump(), " does not fit in int64");
  }
  return v.get<int64_t>();
}

double number_field(const json& obj, const char* name, const Where& w) {
  const json& v = field(obj, name, w);
  if (!v.is_number())
    ATTNCAMP_THROW(w.path, ": ", w.item, ": field '", name, "' is ", v.type_name(), ", expected a number");
  return v.get<double>();
}

std::string string_field(const json& obj, const char* name, const Where& w) {
  const json& v = field(obj, name, w);
  if (!v.is_string())
    ATTNCAMP_THROW(w.path, ": ", w.item, ": field '", name, "' is ", v.type_name(), ", expected a string");
  return v.get<std::string>();
}

void bbox_field(const json& obj, const Where& w, double box[4]) {
  const json& bbox = field(obj, "bbox", w);
  if (!bbox.is_array() || bbox.size() != 4 ||
      !std::all_of(bbox.begin(), bbox.end(), [](const json& v) { return v.is_number(); })) {
    ATTNCAMP_THROW(w.path, ": ", w.item, ": field 'bbox' is ", bbox.dump(),
                   ", expected 4 numbers [x, y, width, height]");
  }
  for (int e = 0; e < 4; ++e) box[e] = bbox[e].get<double>();
}

const json& array_of_objects(const json& root, const char* name, const std::string& path) {
  const auto it = root.find(name);
  if (it == root.end()) ATTNCAMP_THROW(path, ": required top-level field '", name, "' is missing");
  if (!it->is_array())
    ATTNCAMP_THROW(path, ": top-level field '", name, "' is ", it->type_name(), ", expected an array");
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_object()) {
      ATTNCAMP_THROW(path, ": ", name, "[", i, "] is ", (*it)[i].type_name(), ", expected an object");
    }
  }
  return *it;
}

}  // namespace attncamp::data::json_fields
