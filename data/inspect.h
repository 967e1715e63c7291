// `attncamp inspect FILE.h5`: describes an attncamp HDF5 file (schema, datasets, class
// histogram, value ranges) and validates it against its schema (classification/1, detection/1,
// eeg/1, checkpoint/1), listing every problem found with the dataset and index it concerns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attncamp::data {

struct InspectOptions {
  int64_t max_problems = 100;      // problems kept in the report (all are counted)
  bool decode_images = false;      // fully decode every JPEG/PNG row, not just check its signature
  int64_t chunk_bytes = 16 << 20;  // bytes per row range read when streaming images or signals
};

// Per-channel statistics of EEG signals (microvolts), over every epoch and sample.
struct ChannelStats {
  double min = 0, max = 0, mean = 0, std = 0;
  int64_t nonfinite = 0;  // NaN or Inf values (left out of min/max/mean/std)
};

struct InspectReport {
  std::string path;
  std::string schema;                 // root attribute attncamp_schema ("" when missing)
  std::vector<std::string> lines;     // the human-readable report, one line each, problems last
  std::vector<std::string> problems;  // the first max_problems problems, e.g. "/labels[3] = 12 is outside [0, 10)"
  int64_t problem_count = 0;          // every problem found (may exceed problems.size())

  // Figures the report lines show, for programs and tests (-1 / empty when not applicable).
  int64_t n = -1;                         // samples (images or epochs)
  int64_t num_classes = -1;               // root attribute num_classes
  std::vector<std::string> class_names;   // /class_names
  std::vector<int64_t> class_counts;      // labels per class (detection: boxes per class)
  std::vector<int64_t> images_per_class;  // detection: images with at least one box of the class
  int64_t boxes = -1;                     // detection: M
  int64_t min_boxes_per_image = -1, max_boxes_per_image = -1;
  double pixel_min = -1, pixel_max = -1;  // raw images: over every pixel of every row
  std::vector<ChannelStats> channels;     // eeg: per channel, in /channel_names order

  bool valid() const { return problem_count == 0; }
};

// Opens `path` read-only and inspects it: big datasets (images, signals) are streamed by row
// ranges, so a file larger than memory can be inspected. Problems in the file's contents go into
// the report; only a file that cannot be opened as HDF5 throws attncamp::Error.
InspectReport inspect_file(const std::string& path, const InspectOptions& options = {});
InspectReport inspect_file(const std::string& path, int64_t max_problems);

// The report as printed by the CLI: every line, then "valid" or "N problems found".
std::string format_report(const InspectReport& report);

}  // namespace attncamp::data
