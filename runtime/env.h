// Names of every environment variable attncamp reads, in one place.
#pragma once

namespace attncamp::env {

// Folder holding the shared real fixture data (default ../shared/data).
constexpr const char* kDataDir = "ATTNCAMP_DATA_DIR";
// Folder holding Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist).
constexpr const char* kFashionMnistDir = "ATTNCAMP_FASHION_MNIST_DIR";
// Number of CPU threads for kernels (default: OpenMP's choice).
constexpr const char* kThreads = "ATTNCAMP_THREADS";

}  // namespace attncamp::env
