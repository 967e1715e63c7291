// Tests for load_classification on small hand-made files: a valid file loads, and each kind
// of bad input (missing file, non-HDF5 file, wrong schema, missing or mistyped datasets,
// JPEG with the wrong rank, count mismatch, label out of range) gives one line naming file and dataset.
#include "data/classification.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "data/hdf5.h"
#include "tests/test_util.h"

namespace attncamp::data {
namespace {

using test::expect_error;

// What to write into a small classification file; tests spoil one field at a time.
struct Spec {
  std::string schema = "classification/1";
  int64_t num_classes = 3;
  int64_t n = 6;
  int64_t label_count = 6;
  std::string encoding = "raw";
  bool write_labels = true;
  bool float_labels = false;
  int bad_label_index = -1;
  int bad_label_value = 0;
};

std::string write_file(const Spec& s) {
  const std::string path = test::temp_dir() + "/small.h5";
  H5Id f = create_file(path);
  write_attr_string(f.get(), "attncamp_schema", s.schema);
  write_attr_int(f.get(), "num_classes", s.num_classes);
  std::vector<std::string> names;
  for (int64_t c = 0; c < s.num_classes; ++c) names.push_back("class" + std::to_string(c));
  write_string_dataset(f.get(), "class_names", names);
  Tensor images = Tensor::empty({s.n, 4, 5, 3}, DType::kU8);
  for (int64_t i = 0; i < images.numel(); ++i) images.data<uint8_t>()[i] = static_cast<uint8_t>(i * 13 + 1);
  write_tensor(f.get(), "images", images);
  H5Id ds = open_dataset(f.get(), "images");
  write_attr_string(ds.get(), "encoding", s.encoding);
  if (s.write_labels) {
    Tensor labels = Tensor::empty({s.label_count}, s.float_labels ? DType::kF32 : DType::kI32);
    for (int64_t i = 0; i < s.label_count; ++i) {
      const int v = i == s.bad_label_index ? s.bad_label_value : static_cast<int>(i % s.num_classes);
      if (s.float_labels)
        labels.data<float>()[i] = static_cast<float>(v);
      else
        labels.data<int32_t>()[i] = v;
    }
    write_tensor(f.get(), "labels", labels);
  }
  return path;
}

TEST(Classification, LoadsValidFile) {
  const std::string path = write_file(Spec{});
  const ClassificationData d = load_classification(path);
  EXPECT_EQ(d.images.shape(), (Shape{6, 4, 5, 3}));
  EXPECT_EQ(d.images.data<uint8_t>()[7], static_cast<uint8_t>(7 * 13 + 1));
  EXPECT_EQ(d.labels.shape(), (Shape{6}));
  EXPECT_EQ(d.labels.data<int32_t>()[5], 2);
  EXPECT_EQ(d.num_classes, 3);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"class0", "class1", "class2"}));
  EXPECT_EQ(d.path, path);
}

TEST(Classification, MissingFile) {
  const std::string path = test::temp_dir() + "/absent.h5";
  expect_error([&] { load_classification(path); },
               {path + ": cannot open as HDF5 (missing, unreadable or not an HDF5 file)"});
}

TEST(Classification, NotHdf5) {
  const std::string path = test::temp_dir() + "/text.h5";
  std::ofstream(path) << "this is not an HDF5 file\n";
  expect_error([&] { load_classification(path); }, {path + ": cannot open as HDF5"});
}

TEST(Classification, WrongSchema) {
  Spec s;
  s.schema = "detection/1";
  const std::string path = write_file(s);
  expect_error([&] { load_classification(path); }, {path, "attncamp_schema is \"detection/1\"", "classification/1"});
}

TEST(Classification, MissingLabels) {
  Spec s;
  s.write_labels = false;
  const std::string path = write_file(s);
  expect_error([&] { load_classification(path); }, {path + ": dataset /labels not found"});
}

TEST(Classification, FloatLabels) {
  Spec s;
  s.float_labels = true;
  const std::string path = write_file(s);
  expect_error([&] { load_classification(path); }, {path + ": dataset /labels has dtype float32, expected int32"});
}

TEST(Classification, CountMismatch) {
  Spec s;
  s.label_count = 5;
  const std::string path = write_file(s);
  expect_error([&] { load_classification(path); }, {path, "/labels has 5 entries but /images has 6"});
}

TEST(Classification, LabelOutOfRange) {
  Spec s;
  s.num_classes = 10;
  s.n = s.label_count = 200;
  s.bad_label_index = 123;
  s.bad_label_value = 12;
  const std::string path = write_file(s);
  expect_error([&] { load_classification(path); }, {path + ": /labels[123] = 12 is outside [0, 10)"});
  s.bad_label_value = -1;
  const std::string path2 = write_file(s);
  expect_error([&] { load_classification(path2); }, {path2 + ": /labels[123] = -1 is outside [0, 10)"});
}

TEST(Classification, JpegWithWrongRank) {
  Spec s;
  s.encoding = "jpeg";
  const std::string path = write_file(s);
  expect_error([&] { load_classification(path); }, {path, "/images", "\"jpeg\"", "rank 4", "expected rank 1"});
}

TEST(Classification, BadNumClasses) {
  Spec s;
  s.num_classes = 0;
  s.n = s.label_count = 0;
  const std::string path = write_file(s);
  expect_error([&] { load_classification(path); }, {path, "num_classes is 0"});
}

}  // namespace
}  // namespace attncamp::data
