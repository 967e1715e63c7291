// Tests for the Fashion-MNIST converter on the real files (Debian's dataset-fashion-mnist;
// skipped when absent): conversion, loading back through load_classification, agreement with
// the IDX bytes, and an independent read of the same file with h5py (skipped without it).
#include "data/fashion_mnist.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "data/classification.h"
#include "data/idx.h"
#include "tests/test_util.h"

namespace attncamp::data {
namespace {

using test::expect_error;

namespace fs = std::filesystem;

const std::string kInputDir = "/usr/share/datasets/fashion-mnist";

// Runs a shell command; returns its exit status and fills `out` with stdout+stderr.
int run(const std::string& cmd, std::string* out) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Sum of all bytes and a position-weighted sum (weights i % 251 + 1), matching the h5py script.
std::string checksums(const Tensor& images) {
  const uint8_t* p = images.data<uint8_t>();
  uint64_t sum = 0, weighted = 0;
  for (int64_t i = 0; i < images.numel(); ++i) {
    sum += p[i];
    weighted += static_cast<uint64_t>(p[i]) * static_cast<uint64_t>(i % 251 + 1);
  }
  return std::to_string(sum) + " " + std::to_string(weighted);
}

class FashionMnist : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kInputDir + "/t10k-labels-idx1-ubyte.gz")) return;
    output_dir_ = test::temp_dir() + "/out";  // does not exist yet: the converter creates it
    summary_ = convert_fashion_mnist(kInputDir, output_dir_);
  }
  void SetUp() override {
    if (output_dir_.empty()) GTEST_SKIP() << kInputDir << " is absent (install Debian's dataset-fashion-mnist)";
  }
  static std::string output_dir_;
  static ConvertSummary summary_;
};
std::string FashionMnist::output_dir_;
ConvertSummary FashionMnist::summary_;

TEST_F(FashionMnist, ConvertsAndLoads) {
  EXPECT_EQ(summary_.written, 70000);
  EXPECT_EQ(summary_.skipped, 0);
  EXPECT_EQ(summary_.outputs, (std::vector<std::string>{output_dir_ + "/train.h5", output_dir_ + "/test.h5"}));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(output_dir_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"test.h5", "train.h5"}));  // no temporary files left

  const std::pair<const char*, int64_t> splits[] = {{"train", 60000}, {"t10k", 10000}};
  for (size_t k = 0; k < 2; ++k) {
    const auto [prefix, n] = splits[k];
    const ClassificationData d = load_classification(summary_.outputs[k]);
    EXPECT_EQ(d.images.shape(), (Shape{n, 28, 28, 1}));
    EXPECT_EQ(d.labels.shape(), (Shape{n}));
    EXPECT_EQ(d.num_classes, 10);
    EXPECT_EQ(d.class_names, fashion_mnist_class_names());
    std::vector<int64_t> hist(10, 0);
    for (int64_t i = 0; i < n; ++i) {
      const int32_t l = d.labels.data<int32_t>()[i];
      ASSERT_TRUE(l >= 0 && l < 10) << i;
      hist[static_cast<size_t>(l)]++;
    }
    for (int64_t h : hist) EXPECT_EQ(h, n / 10);  // Fashion-MNIST is balanced

    const Tensor idx_images = read_idx(kInputDir + "/" + prefix + "-images-idx3-ubyte.gz");
    const Tensor idx_labels = read_idx(kInputDir + "/" + prefix + "-labels-idx1-ubyte.gz");
    EXPECT_EQ(std::memcmp(d.images.raw_data(), idx_images.raw_data(), 28 * 28), 0) << "first image";
    EXPECT_EQ(std::memcmp(d.images.raw_data(), idx_images.raw_data(), idx_images.nbytes()), 0) << "all images";
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(d.labels.data<int32_t>()[i], idx_labels.data<uint8_t>()[i]) << i;
  }
}

TEST_F(FashionMnist, ReadableWithH5py) {
  std::string out;
  if (run("/usr/bin/python3 -c 'import h5py'", &out) != 0) {
    GTEST_SKIP() << "h5py is not importable by /usr/bin/python3 (install python3-h5py): " << out;
  }
  const std::string script =
      "import sys, h5py, numpy as np\n"
      "f = h5py.File(sys.argv[1], 'r')\n"
      "im, lb = f['images'], f['labels']\n"
      "print('schema', f.attrs['attncamp_schema'])\n"
      "print('num_classes', int(f.attrs['num_classes']))\n"
      "print('images', ','.join(map(str, im.shape)), im.dtype, im.attrs['encoding'])\n"
      "print('labels', ','.join(map(str, lb.shape)), lb.dtype)\n"
      "print('hist', ' '.join(map(str, np.bincount(lb[:], minlength=10))))\n"
      "x = im[:].reshape(-1).astype(np.uint64)\n"
      "w = np.arange(x.size, dtype=np.uint64) % 251 + 1\n"
      "print('checksum', int(x.sum()), int((x * w).sum()))\n"
      "print('names', '|'.join(n.decode() if isinstance(n, bytes) else n for n in f['class_names'][:]))\n";
  const std::string script_path = test::temp_dir() + "/check.py";
  std::ofstream(script_path) << script;
  const std::string test_h5 = output_dir_ + "/test.h5";
  out.clear();
  ASSERT_EQ(run("/usr/bin/python3 '" + script_path + "' '" + test_h5 + "'", &out), 0) << out;

  const ClassificationData d = load_classification(test_h5);
  std::vector<int64_t> hist(10, 0);
  for (int64_t i = 0; i < d.labels.numel(); ++i) hist[static_cast<size_t>(d.labels.data<int32_t>()[i])]++;
  std::ostringstream expected;
  expected << "schema classification/1\nnum_classes 10\nimages 10000,28,28,1 uint8 raw\nlabels 10000 int32\nhist";
  for (int64_t h : hist) expected << " " << h;
  expected << "\nchecksum " << checksums(d.images) << "\nnames ";
  for (size_t c = 0; c < d.class_names.size(); ++c) expected << (c ? "|" : "") << d.class_names[c];
  expected << "\n";
  EXPECT_EQ(out, expected.str());
}

TEST(FashionMnistErrors, MissingInputLeavesNothing) {
  const std::string in = test::temp_dir();
  const std::string out = test::temp_dir() + "/out";
  expect_error([&] { convert_fashion_mnist(in, out); }, {in + "/train-images-idx3-ubyte.gz", "cannot open"});
  EXPECT_TRUE(fs::is_empty(out));
}

TEST(FashionMnistErrors, DefaultDirFromEnvironment) {
  ::setenv("ATTNCAMP_FASHION_MNIST_DIR", "/elsewhere", 1);
  EXPECT_EQ(default_fashion_mnist_dir(), "/elsewhere");
  ::unsetenv("ATTNCAMP_FASHION_MNIST_DIR");
  EXPECT_EQ(default_fashion_mnist_dir(), "/usr/share/datasets/fashion-mnist");
}

}  // namespace
}  // namespace attncamp::data
