// Names of every environment variable attncamp reads, in one place.
#pragma once

namespace attncamp::env {

// Folder holding the shared real fixture data (default ../shared/data).
constexpr const char* kDataDir = "ATTNCAMP_DATA_DIR";
// Folder holding Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist).
constexpr const char* kFashionMnistDir = "ATTNCAMP_FASHION_MNIST_DIR";
// CPU f32 GEMM backend: "blas" selects OpenBLAS; unset or anything else the native kernel.
constexpr const char* kGemm = "ATTNCAMP_GEMM";

}  // namespace attncamp::env
