// Names of every environment variable attncamp reads, in one place, the reader of the 0/1
// switches among them, and a scoped override.
#pragma once

#include <string>

namespace attncamp::env {

// Folder holding the shared real fixture data (default ../shared/data).
constexpr const char* kDataDir = "ATTNCAMP_DATA_DIR";
// Folder holding Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist).
constexpr const char* kFashionMnistDir = "ATTNCAMP_FASHION_MNIST_DIR";
// CPU f32 GEMM backend: "blas" selects OpenBLAS; unset or anything else the native kernel.
constexpr const char* kGemm = "ATTNCAMP_GEMM";
// CUDA attention kernels: "simple" (f32 FMA tiles) or "mma" (tensor cores); unset or "auto" picks.
constexpr const char* kAttentionImpl = "ATTNCAMP_ATTENTION_IMPL";
// "1": bitwise reproducible kernels where a faster non-deterministic one is the default (the CUDA
// attention backward's dQ, the CUDA RoIAlign backward); "0" or unset: the defaults.
constexpr const char* kDeterministic = "ATTNCAMP_DETERMINISTIC";
// "1": each cuBLASLt GEMM plan times the heuristic's candidate algorithms on first use and keeps
// the fastest (ignored when kDeterministic is 1); "0" or unset: the heuristic's first choice.
constexpr const char* kGemmAutotune = "ATTNCAMP_GEMM_AUTOTUNE";
// "1": the CUDA tensor-core attention kernels' tile shapes are timed on the first call of each
// problem class and the fastest kept (ignored when kDeterministic is 1); "0" or unset: the defaults.
constexpr const char* kAttentionAutotune = "ATTNCAMP_ATTENTION_AUTOTUNE";

// Tests only: the attncamp binary and the source tree the tests use, overriding the paths
// compiled into them (a relocated bundle, scripts/bundle.sh, sets these).
constexpr const char* kTestBinary = "ATTNCAMP_TEST_BINARY";
constexpr const char* kTestSourceDir = "ATTNCAMP_TEST_SOURCE_DIR";
// Tests only: a byte count N; while data::write_file_atomically writes an HDF5 file (checkpoints,
// converter outputs), no file may grow past N bytes (RLIMIT_FSIZE, SIGXFSZ ignored), so the write
// fails with EFBIG after N bytes as it would with ENOSPC on a full disk. Unset: no limit.
constexpr const char* kTestFileSizeLimit = "ATTNCAMP_TEST_FILE_SIZE_LIMIT";

// Tests only: a Python interpreter with pycocotools, faster-coco-eval and numpy (.ci/run makes the
// virtual environment build-ci-venv and sets this); the COCO evaluator's comparisons with
// pycocotools skip, saying so, when it is unset.
constexpr const char* kTestPython = "ATTNCAMP_TEST_PYTHON";

// A 0/1 switch: true for "1", false for "0" or unset; throws naming the variable otherwise.
bool flag(const char* name);

// Sets variable `name` to `value` (unsets it for nullptr) for the guard's lifetime, then restores
// the old value or its absence (tests and benchmarks; not thread-safe, as setenv is not).
class Scoped {
 public:
  Scoped(const char* name, const char* value);
  ~Scoped();
  Scoped(const Scoped&) = delete;
  Scoped& operator=(const Scoped&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

}  // namespace attncamp::env
