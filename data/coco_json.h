// COCO JSON output for detection/1 data: the ground truth as a COCO instances JSON and detections
// as a COCO results JSON ([{image_id, category_id, bbox, score}], what pycocotools' loadRes
// reads), plus a reader for results files. Floats are written as the shortest decimal that reads
// back as the same float32, so 250.82 stays "250.82".
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

// Reads a COCO results JSON array; each entry must have integer image_id and category_id, a bbox
// of 4 numbers and a numeric score. Errors name the file and the entry index.
std::vector<CocoDetection> read_coco_results(const std::string& path);

}  // namespace attncamp::data
