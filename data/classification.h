// Reader for classification/1 files (schema in docs/data_formats.md): loads a whole
// raw-encoded file into memory and validates it, with one-line errors naming the file,
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

// Loads and validates a raw-encoded classification/1 file completely (Fashion-MNIST's
// train.h5 is 47 MB). Files too large for memory and JPEG-encoded images need the sharded
// streaming reader, which comes in a later issue; encoding "jpeg" is rejected with a clear
// "not supported yet" error.
ClassificationData load_classification(const std::string& path);

}  // namespace attncamp::data
