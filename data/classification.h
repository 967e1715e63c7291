// Reader for classification/1 files (schema in docs/data_formats.md): loads a whole raw- or
// JPEG-encoded file into memory and validates it, with one-line errors naming the file,
// the dataset and, for a bad sample, its index.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace attncamp::data {

struct ClassificationData {
  Tensor images;                         // u8 [N, H, W, C], CPU, contiguous
  Tensor labels;                         // i32 [N], each in [0, num_classes)
  int64_t num_classes = 0;               // root attribute num_classes
  std::vector<std::string> class_names;  // /class_names ([num_classes]); empty if the file has none
  std::string path;                      // the file it came from
};

// Loads and validates a classification/1 file completely (Fashion-MNIST's train.h5 is 47 MB).
// encoding "raw" reads /images as stored; encoding "jpeg" decodes every JPEG/PNG in /images to
// RGB (C = 3), and all images must have the same height and width (else an error naming the
// first index that differs). Files too large for memory need the sharded streaming reader.
ClassificationData load_classification(const std::string& path);

}  // namespace attncamp::data
