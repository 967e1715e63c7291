// COCO JSON writing and results reading with nlohmann-json. float32 values go through
// std::to_chars (shortest round-trip form), so the JSON shows the decimal a person wrote, and a
// reader that rounds it to float32 gets exactly the stored value.
#include "data/coco_json.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/image_codec.h"
#include "runtime/error.h"

namespace attncamp::data {

namespace {

using nlohmann::json;

// A float32 as the double whose shortest decimal form is the float's shortest decimal form.
double float_json(float v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf) - 1, v);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

json bbox_json(const float* b) {
  return json::array({float_json(b[0]), float_json(b[1]), float_json(b[2]), float_json(b[3])});
}

// Writes `doc` to path.tmp-<pid>, then renames it over `path`; on failure removes the temporary.
void write_json_atomically(const json& doc, const std::string& path) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) ATTNCAMP_THROW(path, ": cannot create ", tmp, " (", std::strerror(errno), ")");
    out << doc.dump() << '\n';
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      ATTNCAMP_THROW(path, ": write to ", tmp, " failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    ATTNCAMP_THROW(path, ": cannot rename ", tmp, " into place (", std::strerror(err), ")");
  }
}

}  // namespace

void write_coco_ground_truth(const DetectionData& d, const std::string& path) {
  validate_detection(d, d.path.empty() ? path : d.path);
  json images = json::array(), annotations = json::array(), categories = json::array();
  for (int64_t k = 0; k < d.num_classes; ++k) {
    categories.push_back({{"id", d.category_ids[k]}, {"name", d.class_names[k]}});
  }
  for (int64_t i = 0; i < d.size(); ++i) {
    images.push_back({{"id", d.image_ids[i]},
                      {"width", d.image_sizes[2 * i + 1]},
                      {"height", d.image_sizes[2 * i]},
                      {"file_name", d.sources.empty() ? std::string() : d.sources[i]}});
    for (int64_t j = d.box_offsets[i]; j < d.box_offsets[i + 1]; ++j) {
      annotations.push_back({{"id", d.box_ids.empty() ? j + 1 : d.box_ids[j]},
                             {"image_id", d.image_ids[i]},
                             {"category_id", d.category_ids[d.box_labels[j]]},
                             {"bbox", bbox_json(&d.boxes[4 * j])},
                             {"area", float_json(d.box_areas[j])},
                             {"iscrowd", int(d.box_iscrowd[j])}});
    }
  }
  json doc = {
      {"info", {{"description", "written by attncamp from " + (d.path.empty() ? std::string("memory") : d.path)}}},
      {"licenses", json::array()},
      {"images", std::move(images)},
      {"annotations", std::move(annotations)},
      {"categories", std::move(categories)}};
  write_json_atomically(doc, path);
}

void write_coco_results(const std::vector<CocoDetection>& detections, const std::string& path) {
  json doc = json::array();
  for (const CocoDetection& det : detections) {
    doc.push_back({{"image_id", det.image_id},
                   {"category_id", det.category_id},
                   {"bbox", bbox_json(det.bbox)},
                   {"score", float_json(det.score)}});
  }
  write_json_atomically(doc, path);
}

std::vector<CocoDetection> read_coco_results(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  json doc;
  try {
    doc = json::parse(bytes.begin(), bytes.end());
  } catch (const json::parse_error& e) {
    ATTNCAMP_THROW(path, ": malformed JSON at byte ", e.byte, " (", e.what(), ")");
  }
  if (!doc.is_array()) ATTNCAMP_THROW(path, ": top level is ", doc.type_name(), ", expected an array of detections");
  std::vector<CocoDetection> out;
  out.reserve(doc.size());
  for (size_t q = 0; q < doc.size(); ++q) {
    const json& r = doc[q];
    if (!r.is_object()) ATTNCAMP_THROW(path, ": [", q, "] is ", r.type_name(), ", expected an object");
    auto get = [&](const char* name) -> const json& {
      const auto it = r.find(name);
      if (it == r.end()) ATTNCAMP_THROW(path, ": [", q, "]: required field '", name, "' is missing");
      return *it;
    };
    CocoDetection det;
    const json& image_id = get("image_id");
    const json& category_id = get("category_id");
    const json& bbox = get("bbox");
    const json& score = get("score");
    if (!image_id.is_number_integer())
      ATTNCAMP_THROW(path, ": [", q, "]: field 'image_id' is ", image_id.dump(), ", expected an integer");
    if (!category_id.is_number_integer()) {
      ATTNCAMP_THROW(path, ": [", q, "]: field 'category_id' is ", category_id.dump(), ", expected an integer");
    }
    if (!bbox.is_array() || bbox.size() != 4 ||
        !std::all_of(bbox.begin(), bbox.end(), [](const json& v) { return v.is_number(); })) {
      ATTNCAMP_THROW(path, ": [", q, "]: field 'bbox' is ", bbox.dump(), ", expected 4 numbers [x, y, width, height]");
    }
    if (!score.is_number()) ATTNCAMP_THROW(path, ": [", q, "]: field 'score' is ", score.dump(), ", expected a number");
    det.image_id = image_id.get<int64_t>();
    det.category_id = category_id.get<int32_t>();
    for (int e = 0; e < 4; ++e) det.bbox[e] = bbox[e].get<float>();
    det.score = score.get<float>();
    out.push_back(det);
  }
  return out;
}

}  // namespace attncamp::data
