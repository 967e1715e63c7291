// Field-by-field JSON reading with errors that name the file, the item and the field (see
// data/json_fields.h).
#include "data/json_fields.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "data/image_codec.h"
#include "runtime/error.h"

namespace attncamp::data::json_fields {

json parse_file_without_segmentations(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  const json::parser_callback_t drop_segmentation = [](int, json::parse_event_t event, json& value) {
    return !(event == json::parse_event_t::key && value == "segmentation");
  };
  try {
    return json::parse(bytes.begin(), bytes.end(), drop_segmentation);
  } catch (const json::parse_error& e) {
    ATTNCAMP_THROW(path, ": malformed JSON at byte ", e.byte, " (", e.what(), ")");
  }
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
