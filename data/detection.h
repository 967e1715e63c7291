// detection/1 files (docs/data_formats.md): the in-memory metadata (image sizes and ids, boxes as
// offsets + flat arrays, categories), its validation, the writer of everything but the images,
// and the readers: load_detection reads all metadata, read_detection_images reads the JPEG bytes
// of a row range by hyperslab, so each rank reads only its own shard's images.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace attncamp::data {

// A box may stick out of its image by this many pixels on any side (COCO boxes come from
// polygons and are rounded to 2 decimals, so a few end at e.g. x + w = 640.01 on a 640-wide
// image); such boxes are kept unchanged, not clipped, so that ground truth round-trips exactly.
constexpr double kBoxTolerancePx = 1.0;

// Why a COCO box [x, y, w, h] (pixels) is unusable on a height x width image, or "" if it is
// fine: a non-finite value, w <= 0 or h <= 0, or an edge more than kBoxTolerancePx outside.
std::string box_problem(double x, double y, double w, double h, int64_t height, int64_t width);

// The metadata of a detection/1 file: N images, M boxes, K classes. Box j belongs to image i
// when box_offsets[i] <= j < box_offsets[i + 1]; image i's boxes are in COCO annotation order.
struct DetectionData {
  std::string path;                      // the file it came from ("" when built in memory)
  int64_t num_classes = 0;               // K (root attribute num_classes)
  std::vector<std::string> class_names;  // [K] category names
  std::vector<int32_t> category_ids;     // [K] label -> COCO category id (ascending)
  std::vector<int64_t> image_ids;        // [N] COCO image ids (ascending)
  std::vector<int32_t> image_sizes;      // [N * 2] (height, width) pixels of image i at 2i, 2i+1
  std::vector<std::string> sources;      // [N] image file names (relative); empty if the file has none
  std::vector<int64_t> box_offsets;      // [N + 1], box_offsets[0] = 0, box_offsets[N] = M
  std::vector<float> boxes;              // [M * 4] COCO x, y, w, h in pixels
  std::vector<int32_t> box_labels;       // [M] in [0, K)
  std::vector<uint8_t> box_iscrowd;      // [M] 0 or 1
  std::vector<float> box_areas;          // [M] COCO's area (segment area, not w * h)
  std::vector<int64_t> box_ids;          // [M] COCO annotation ids; empty if the file has none

  int64_t size() const { return static_cast<int64_t>(image_ids.size()); }        // N
  int64_t num_boxes() const { return static_cast<int64_t>(box_labels.size()); }  // M
};

// Checks every invariant above (array lengths, offsets monotone from 0 to M, labels in range,
// iscrowd 0/1, finite non-negative areas, positive image sizes, boxes per box_problem, unique
// image and category ids) and throws one line naming `what` (usually the file), the dataset and
// the index, e.g. "val.h5: /box_labels[12] = 80 is outside [0, 80)".
void validate_detection(const DetectionData& d, const std::string& what);

// Writes the root attributes (attncamp_schema = "detection/1", num_classes) and every dataset
// except /images into an open file; the caller writes /images (N rows of JPEG bytes, attribute
// encoding = "jpeg"). /sources and /box_ids are written when non-empty. Does not validate.
void write_detection_metadata(hid_t file, const DetectionData& d);

// Opens `path`, checks the schema, the dtypes and shapes of every dataset and /images (a
// variable-length uint8 [N] dataset with encoding "jpeg"), reads all metadata (not the image
// bytes) and validates it with validate_detection. Errors name the file, dataset and index.
DetectionData load_detection(const std::string& path);

// JPEG bytes of images [start, end) (0 <= start <= end <= N), one vector per image, read by
// hyperslab from an open detection/1 file (e.g. one handle per rank or worker).
std::vector<std::vector<uint8_t>> read_detection_images(hid_t file, int64_t start, int64_t end);
// As above, opening `path` for this call.
std::vector<std::vector<uint8_t>> read_detection_images(const std::string& path, int64_t start, int64_t end);

}  // namespace attncamp::data
