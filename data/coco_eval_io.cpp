// Inputs of the COCO evaluator: ground truth from a COCO instances JSON (DOM without
// segmentations) or a detection/1 file, detections from a results JSON mapped onto the ground
// truth's image and category indices by binary search over the sorted ids.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <limits>
#include <unordered_map>

#include "data/coco_eval.h"
#include "data/json_fields.h"
#include "runtime/error.h"

namespace attncamp::data {

namespace {

using json_fields::field;
using json_fields::int_field;
using json_fields::item;
using json_fields::json;
using json_fields::number_field;
using json_fields::Where;

// Index of `id` in the ascending `ids`, or -1.
int32_t find_index(const std::vector<int64_t>& ids, int64_t id) {
  const auto it = std::lower_bound(ids.begin(), ids.end(), id);
  return it != ids.end() && *it == id ? static_cast<int32_t>(it - ids.begin()) : -1;
}

// Sorts `ids` (taken from `array` in `path`) and rejects a repeated id, naming both entries.
std::vector<int64_t> sorted_unique_ids(std::vector<std::pair<int64_t, size_t>> ids, const std::string& path,
                                       const char* array) {
  if (ids.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    ATTNCAMP_THROW(path, ": '", array, "' has ", ids.size(), " entries, more than 2^31 - 1");
  }
  std::sort(ids.begin(), ids.end());
  std::vector<int64_t> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0 && ids[i].first == ids[i - 1].first) {
      ATTNCAMP_THROW(path, ": ", item(array, ids[i].second), ": id ", ids[i].first, " repeats ", array, "[",
                     ids[i - 1].second, "]");
    }
    out[i] = ids[i].first;
  }
  return out;
}

bool is_hdf5_file(const std::string& path) {
  static const char kSignature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  std::ifstream in(path, std::ios::binary);
  if (!in) ATTNCAMP_THROW(path, ": cannot open (", std::strerror(errno), ")");
  char head[8] = {};
  in.read(head, sizeof(head));
  return in.gcount() == 8 && std::memcmp(head, kSignature, 8) == 0;
}

}  // namespace

CocoEvalGroundTruth read_coco_eval_ground_truth_json(const std::string& path) {
  const json root = json_fields::parse_file_without_segmentations(path);
  if (!root.is_object()) {
    ATTNCAMP_THROW(path, ": top level is ", root.type_name(),
                   ", expected an object with images, annotations, categories");
  }
  const json& jimages = json_fields::array_of_objects(root, "images", path);
  const json& janns = json_fields::array_of_objects(root, "annotations", path);
  const json& jcats = json_fields::array_of_objects(root, "categories", path);

  CocoEvalGroundTruth gt;
  gt.source = path;
  std::vector<std::pair<int64_t, size_t>> ids;
  for (size_t i = 0; i < jimages.size(); ++i)
    ids.emplace_back(int_field(jimages[i], "id", {path, item("images", i)}), i);
  gt.image_ids = sorted_unique_ids(std::move(ids), path, "images");

  ids.clear();
  std::unordered_map<int64_t, std::string> names;
  for (size_t c = 0; c < jcats.size(); ++c) {
    const int64_t id = int_field(jcats[c], "id", {path, item("categories", c)});
    ids.emplace_back(id, c);
    const auto name = jcats[c].find("name");
    if (name != jcats[c].end() && name->is_string()) names[id] = name->get<std::string>();
  }
  gt.category_ids = sorted_unique_ids(std::move(ids), path, "categories");
  for (int64_t id : gt.category_ids) gt.category_names.push_back(names[id]);

  const size_t m = janns.size();
  gt.image.resize(m);
  gt.category.resize(m);
  gt.boxes.resize(4 * m);
  gt.areas.resize(m);
  gt.iscrowd.resize(m);
  gt.ids.resize(m);
  ids.clear();
  for (size_t q = 0; q < m; ++q) {
    const json& a = janns[q];
    gt.ids[q] = int_field(a, "id", {path, item("annotations", q)});
    ids.emplace_back(gt.ids[q], q);
    const Where w{path, item("annotations", q, gt.ids[q])};
    const int64_t image_id = int_field(a, "image_id", w);
    const int64_t category_id = int_field(a, "category_id", w);
    gt.image[q] = find_index(gt.image_ids, image_id);
    if (gt.image[q] < 0) ATTNCAMP_THROW(path, ": ", w.item, ": image_id ", image_id, " is not in 'images'");
    gt.category[q] = find_index(gt.category_ids, category_id);
    if (gt.category[q] < 0)
      ATTNCAMP_THROW(path, ": ", w.item, ": category_id ", category_id, " is not in 'categories'");
    json_fields::bbox_field(a, w, &gt.boxes[4 * q]);
    gt.areas[q] = number_field(a, "area", w);
    const json& crowd = field(a, "iscrowd", w);
    if (crowd.is_boolean()) {
      gt.iscrowd[q] = crowd.get<bool>() ? 1 : 0;
    } else {
      const int64_t v = int_field(a, "iscrowd", w);
      if (v != 0 && v != 1) ATTNCAMP_THROW(path, ": ", w.item, ": field 'iscrowd' = ", v, ", expected 0 or 1");
      gt.iscrowd[q] = static_cast<uint8_t>(v);
    }
  }
  sorted_unique_ids(std::move(ids), path, "annotations");
  return gt;
}

CocoEvalGroundTruth coco_eval_ground_truth(const DetectionData& d) {
  validate_detection(d, d.path.empty() ? std::string("detection data") : d.path);
  CocoEvalGroundTruth gt;
  gt.source = d.path;
  gt.image_ids = d.image_ids;
  gt.category_ids.assign(d.category_ids.begin(), d.category_ids.end());
  gt.category_names = d.class_names;
  const int64_t m = d.num_boxes();
  gt.image.resize(m);
  gt.category.assign(d.box_labels.begin(), d.box_labels.end());
  gt.boxes.resize(4 * m);
  gt.areas.resize(m);
  gt.iscrowd = d.box_iscrowd;
  gt.ids.resize(m);
  for (int64_t i = 0; i < d.size(); ++i) {
    for (int64_t j = d.box_offsets[i]; j < d.box_offsets[i + 1]; ++j) gt.image[j] = static_cast<int32_t>(i);
  }
  for (int64_t j = 0; j < m; ++j) {
    for (int e = 0; e < 4; ++e) gt.boxes[4 * j + e] = float_as_written(d.boxes[4 * j + e]);
    gt.areas[j] = float_as_written(d.box_areas[j]);
    gt.ids[j] = d.box_ids.empty() ? j + 1 : d.box_ids[j];
  }
  return gt;
}

CocoEvalGroundTruth load_coco_eval_ground_truth(const std::string& path) {
  if (is_hdf5_file(path)) return coco_eval_ground_truth(load_detection(path));
  return read_coco_eval_ground_truth_json(path);
}

CocoEvalDetections coco_eval_detections(const std::vector<CocoResult>& results, const CocoEvalGroundTruth& gt,
                                        const std::string& source) {
  CocoEvalDetections d;
  d.source = source;
  const size_t n = results.size();
  d.image.reserve(n);
  d.category.reserve(n);
  d.boxes.reserve(4 * n);
  d.scores.reserve(n);
  d.entry.reserve(n);
  for (size_t q = 0; q < n; ++q) {
    const CocoResult& r = results[q];
    const int32_t image = find_index(gt.image_ids, r.image_id);
    if (image < 0) {
      ATTNCAMP_THROW(source, ": [", q, "]: field 'image_id' = ", r.image_id, " is not an image of the ground truth ",
                     gt.source, " (pycocotools: 'Results do not correspond to current coco set')");
    }
    const int32_t category = find_index(gt.category_ids, r.category_id);
    if (category < 0) {
      if (d.unknown_category++ == 0) {
        d.first_unknown_entry = static_cast<int64_t>(q);
        d.first_unknown_category = r.category_id;
      }
      continue;
    }
    d.image.push_back(image);
    d.category.push_back(category);
    d.boxes.insert(d.boxes.end(), r.bbox, r.bbox + 4);
    d.scores.push_back(r.score);
    d.entry.push_back(static_cast<int64_t>(q));
  }
  return d;
}

CocoEvalDetections read_coco_eval_detections(const std::string& path, const CocoEvalGroundTruth& gt) {
  return coco_eval_detections(read_coco_results_f64(path), gt, path);
}

CocoEvalInputs load_coco_eval_inputs(const std::string& gt_path, const std::string& dets_path) {
  std::future<std::vector<CocoResult>> results =
      std::async(std::launch::async, [&dets_path] { return read_coco_results_f64(dets_path); });
  CocoEvalInputs in;
  in.gt = load_coco_eval_ground_truth(gt_path);
  in.dets = coco_eval_detections(results.get(), in.gt, dets_path);
  return in;
}

}  // namespace attncamp::data
