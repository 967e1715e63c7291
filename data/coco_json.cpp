// COCO JSON writing with nlohmann-json (the results reader is data/coco_results_json.cpp). float32
// values go through std::to_chars (shortest round-trip form), so the JSON shows the decimal a
// person wrote, and a reader that rounds it to float32 gets exactly the stored value.
#include "data/coco_json.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/error.h"

namespace attncamp::data {

double float_as_written(float v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf) - 1, v);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

namespace {

using nlohmann::json;

json bbox_json(const float* b) {
  return json::array({float_as_written(b[0]), float_as_written(b[1]), float_as_written(b[2]), float_as_written(b[3])});
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
                             {"area", float_as_written(d.box_areas[j])},
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
                   {"score", float_as_written(det.score)}});
  }
  write_json_atomically(doc, path);
}

}  // namespace attncamp::data
