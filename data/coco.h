// COCO converter: an instances_*.json (parsed with nlohmann-json) plus its image folder into a
// detection/1 file that keeps COCO's image, category and annotation ids, boxes, areas and iscrowd
// flags, so ground truth and predictions can be written back as COCO JSON (data/coco_json.h).
#pragma once

#include <string>

#include "data/convert.h"
#include "data/detection.h"

namespace attncamp::data {

// Parses and validates a COCO instances JSON into detection/1 metadata (no image files are
// touched). Images are sorted by image id; each image's boxes keep the JSON's annotation order.
// Categories are sorted by id: label k is the k-th smallest category id. sources = file_name.
// Segmentations are not kept (only bbox, area, iscrowd and ids).
//
// Fatal (always thrown, naming the file and the field with the index or id): malformed JSON (with
// nlohmann's byte position), a missing or mistyped field, duplicate image/category ids, and an
// annotation whose image_id or category_id is unknown.
// Per annotation (options.on_error): a box that box_problem() rejects (w or h <= 0, or more than
// kBoxTolerancePx outside its image, which is kept unclipped within the tolerance). fail throws
// naming the annotation id and image id; skip drops the annotation, counts it in
// summary->skipped and lists it ("FILE: annotation id A (image id I)").
DetectionData read_coco_instances(const std::string& json_path, const ConvertOptions& options = {},
                                  ConvertSummary* summary = nullptr);

// Converts `annotations_json` + `images_dir` (holding each image's file_name) into `output`
// (detection/1, written atomically: on any error nothing is left at `output`). /images holds each
// JPEG file's bytes unchanged (encoding "jpeg"). Per image (options.on_error): a missing or
// unreadable file, a file that is not a JPEG, or a JPEG whose header size differs from the JSON's
// width/height; skip leaves the image and its annotations out and lists it
// ("DIR/FILE (image id I)"). Images are read by options.threads threads. summary.written counts
// images; summary.skipped counts skipped images plus skipped annotations.
ConvertSummary convert_coco(const std::string& annotations_json, const std::string& images_dir,
                            const std::string& output, const ConvertOptions& options = {});

}  // namespace attncamp::data
