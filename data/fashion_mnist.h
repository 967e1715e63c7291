// Fashion-MNIST converter: reads the four gzip'd IDX files of the original distribution and
// writes train.h5 and test.h5 in the classification/1 schema (docs/data_formats.md), each
// written atomically so an interrupted conversion leaves no partial file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/convert.h"

namespace attncamp::data {

// The ten Fashion-MNIST class names, label 0 first.
const std::vector<std::string>& fashion_mnist_class_names();

// Folder holding the IDX files: $ATTNCAMP_FASHION_MNIST_DIR, else
// /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist package).
std::string default_fashion_mnist_dir();

// Converts input_dir/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz into
// output_dir/train.h5 (60000 samples) and output_dir/test.h5 (10000): /images uint8
// [N,28,28,1] (encoding "raw"), /labels int32 [N], /class_names, root attributes
// attncamp_schema = "classification/1" and num_classes = 10. Creates output_dir if needed.
// Throws (naming the file) on missing inputs, mismatched image/label counts or labels >= 10.
ConvertSummary convert_fashion_mnist(const std::string& input_dir, const std::string& output_dir);

}  // namespace attncamp::data
