// COCO JSON output for detection/1 data: the ground truth as a COCO instances JSON and detections
// as a COCO results JSON ([{image_id, category_id, bbox, score}], what pycocotools' loadRes
// reads), plus a streaming reader for results files. Floats are written as the shortest decimal
// that reads back as the same float32, so 250.82 stays "250.82".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/detection.h"

namespace attncamp::data {

// One detection in COCO's results format.
struct CocoDetection {
  int64_t image_id = 0;          // COCO image id (DetectionData::image_ids[i])
  int32_t category_id = 0;       // COCO category id (DetectionData::category_ids[label])
  float bbox[4] = {0, 0, 0, 0};  // x, y, w, h in pixels of the original image
  float score = 0;
};

// Writes `d` as a COCO instances JSON: "images" [{id, width, height, file_name}] in file order
// (file_name from /sources, "" when absent), "annotations" [{id, image_id, category_id, bbox,
// area, iscrowd}] (id from /box_ids, or 1..M when absent), "categories" [{id, name}], plus "info"
// and an empty "licenses". Segmentations are not stored in detection/1, so none are written
// (pycocotools' bbox evaluation does not need them). Written to a temporary file, then renamed.
void write_coco_ground_truth(const DetectionData& d, const std::string& path);

// Writes detections as a COCO results JSON array, in the given order (temporary file + rename).
void write_coco_results(const std::vector<CocoDetection>& detections, const std::string& path);

// The double a JSON reader (Python's json, nlohmann) gets for float32 `v` from the files written
// here: the value of v's shortest round-trip decimal, e.g. 250.82f -> 250.82 (not 250.8200073...).
double float_as_written(float v);

// One entry of a COCO results JSON with its numbers as parsed (doubles, as Python's json gives
// pycocotools), for the evaluator (data/coco_eval.h).
struct CocoResult {
  int64_t image_id = 0;
  int64_t category_id = 0;
  double bbox[4] = {0, 0, 0, 0};  // x, y, w, h in pixels
  double score = 0;
};

// Reads a COCO results JSON array in one streaming pass (no DOM), in file order. Strict JSON
// (RFC 8259): NaN and Infinity, which Python's json accepts, are a parse error. Each entry must be
// an object with an integer image_id and category_id (int64), a bbox of exactly 4 numbers and a
// numeric score; other fields (segmentation, id, area, iscrowd, ...) are skipped, as loadRes
// overwrites them; a repeated field keeps its last value, as Python's json does. Errors are one
// line naming the file, the entry index and the field ("res.json: [12]: field 'bbox' has 3
// numbers, expected 4 numbers [x, y, width, height]"), or the byte of malformed JSON.
std::vector<CocoResult> read_coco_results_f64(const std::string& path);

// As read_coco_results_f64, rounded to float32 (category_id must fit in int32).
std::vector<CocoDetection> read_coco_results(const std::string& path);

}  // namespace attncamp::data
