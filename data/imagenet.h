// ImageNet-style image folders to classification/1 HDF5 (docs/data_formats.md): either the
// train layout (<class folder>/<image>, classes = sorted folder names) or any folder plus a
// labels.tsv giving each file's class index. Images are decoded (JPEG, CMYK JPEG, grey, PNG),
// resized like torchvision and stored as re-encoded JPEG bytes or raw uint8 pixels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/convert.h"

namespace attncamp::data {

struct ImagenetOptions {
  std::string input_dir;          // folder of class folders, or the root the label file's paths start from
  std::string labels_file;        // optional TSV (see read_imagenet_labels); empty: classes from folder names
  std::string output;             // the .h5 file to write (its folder is created if needed)
  int size = 256;                 // shorter side after resizing, pixels (> 0)
  bool crop = false;              // centre-crop to size x size after resizing; false keeps the aspect ratio
  std::string encoding = "jpeg";  // "jpeg" (re-encoded JPEG bytes) or "raw" (uint8 [N,size,size,3], needs crop)
  int quality = 90;               // JPEG quality 1..100 (encoding "jpeg")
  int64_t num_classes = 0;        // 0: folder count, or the label file's num_classes / largest index + 1
  int64_t chunk = 256;            // images decoded, resized and written per step (bounds memory)
};

// One image to convert: its path relative to input_dir and its class index.
struct ImagenetSample {
  std::string source;
  int32_t label = 0;
};

// What the input folder holds, in output order (sorted by source path).
struct ImagenetListing {
  std::vector<ImagenetSample> samples;
  std::vector<std::string> class_names;  // [num_classes]; "" for indices the label file never names
  int64_t num_classes = 0;
};

// Reads a label file: tab-separated with a header naming the columns; `class_index` (or
// `label`) and `file` (or `path`) are required, `wnid` (or `class_name`) is optional. Paths are
// relative to the input folder. A line "# num_classes: K" (or "# num_classes=K") sets the class
// count; otherwise it is the largest index + 1. Errors name the file and line.
ImagenetListing read_imagenet_labels(const std::string& labels_file);

// Lists the input per `opts` (folder layout or label file) without reading any image. In the
// folder layout, files with extension .jpeg/.jpg/.png (any case) inside each class folder are
// images; other files are ignored. Throws when there are no images or a label is out of range.
ImagenetListing list_imagenet(const ImagenetOptions& opts);

// Converts per `opts` into opts.output, written atomically. Layout: root attributes
// attncamp_schema = "classification/1" and num_classes, /class_names [K] strings, /images
// (encoding "jpeg": variable-length uint8 [N], each an RGB JPEG; "raw": uint8 [N,size,size,3])
// with attributes encoding, resize_shorter_side, center_crop (0/1) and, for JPEG, jpeg_quality;
// /labels int32 [N]; /sources [N] relative paths. Sample order is the listing's sorted order,
// whatever convert.threads is; unreadable or corrupt images follow convert.on_error.
ConvertSummary convert_imagenet(const ImagenetOptions& opts, const ConvertOptions& convert = {});

}  // namespace attncamp::data
