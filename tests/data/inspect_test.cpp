// Tests for inspect_file: small hand-made files of each schema (classification/1 raw and JPEG,
// detection/1, eeg/1, checkpoint/1) are reported valid with the right histograms and ranges;
// broken ones list every problem with its dataset and index. Also the real Fashion-MNIST file.
#include "data/inspect.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "data/checkpoint.h"
#include "data/fashion_mnist.h"
#include "data/hdf5.h"
#include "tests/test_util.h"

namespace attncamp::data {
namespace {

template <typename T>
Tensor make(const Shape& shape, DType dtype, const std::vector<T>& values) {
  Tensor t = Tensor::empty(shape, dtype);
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel());
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

std::string write(const std::string& name, const std::function<void(hid_t)>& fill) {
  const std::string path = test::temp_dir() + "/" + name;
  H5Id f = create_file(path);
  fill(f.get());
  f.close(path);
  return path;
}

// True when some problem contains every piece.
bool has_problem(const InspectReport& r, const std::vector<std::string>& pieces) {
  for (const auto& p : r.problems) {
    bool all = true;
    for (const auto& piece : pieces) all = all && p.find(piece) != std::string::npos;
    if (all) return true;
  }
  return false;
}

std::string problems_text(const InspectReport& r) { return format_report(r); }

// classification/1, raw: 5 images 2x2x1, labels {0, 2, 1, 2, 2}, K = 3.
void fill_classification(hid_t f, const std::vector<int32_t>& labels, int64_t k, int64_t names) {
  write_attr_string(f, "attncamp_schema", "classification/1");
  write_attr_int(f, "num_classes", k);
  std::vector<std::string> class_names;
  for (int64_t c = 0; c < names; ++c) class_names.push_back("c" + std::to_string(c));
  write_string_dataset(f, "class_names", class_names);
  std::vector<uint8_t> pixels(5 * 4);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(3 + 10 * i);
  write_tensor(f, "images", make<uint8_t>({5, 2, 2, 1}, DType::kU8, pixels));
  H5Id images = open_dataset(f, "images");
  write_attr_string(images.get(), "encoding", "raw");
  write_tensor(f, "labels", make<int32_t>({static_cast<int64_t>(labels.size())}, DType::kI32, labels));
}

TEST(Inspect, ValidRawClassification) {
  const auto path = write("cls.h5", [](hid_t f) { fill_classification(f, {0, 2, 1, 2, 2}, 3, 3); });
  const InspectReport r = inspect_file(path);
  EXPECT_TRUE(r.valid()) << problems_text(r);
  EXPECT_EQ(r.schema, "classification/1");
  EXPECT_EQ(r.n, 5);
  EXPECT_EQ(r.num_classes, 3);
  EXPECT_EQ(r.class_names, (std::vector<std::string>{"c0", "c1", "c2"}));
  EXPECT_EQ(r.class_counts, (std::vector<int64_t>{1, 1, 3}));
  EXPECT_EQ(r.pixel_min, 3);
  EXPECT_EQ(r.pixel_max, 193);
  InspectOptions two_rows;
  two_rows.chunk_bytes = 8;  // rows of 4 bytes: ranges [0, 2), [2, 4), [4, 5)
  const InspectReport s = inspect_file(path, two_rows);
  EXPECT_EQ(s.pixel_min, 3);
  EXPECT_EQ(s.pixel_max, 193);
  const std::string text = format_report(r);
  EXPECT_NE(text.find("/images  uint8 [5,2,2,1]  encoding=\"raw\""), std::string::npos) << text;
  EXPECT_NE(text.find("num_classes=3"), std::string::npos) << text;
  EXPECT_NE(text.find("  2 c2: 3"), std::string::npos) << text;
  EXPECT_NE(text.find("class histogram (/labels): min 1 max 3, 0 of 3 classes empty"), std::string::npos) << text;
  EXPECT_NE(text.find("valid: no problems found"), std::string::npos) << text;
}

TEST(Inspect, BrokenClassificationListsEveryProblem) {
  const auto path = write("cls_bad.h5", [](hid_t f) { fill_classification(f, {0, 7, 1, -1}, 3, 2); });
  const InspectReport r = inspect_file(path);
  EXPECT_FALSE(r.valid());
  EXPECT_EQ(r.problem_count, 4) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/class_names", "2 names", "num_classes = 3"})) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/labels: has 4 rows but /images has 5"})) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/labels[1] = 7 is outside [0, 3)"})) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/labels[3] = -1 is outside [0, 3)"})) << problems_text(r);
  EXPECT_EQ(r.class_counts, (std::vector<int64_t>{1, 1, 0}));
}

TEST(Inspect, WrongDtypeRankAndMissingPieces) {
  const auto path = write("cls_types.h5", [](hid_t f) {
    write_attr_string(f, "attncamp_schema", "classification/1");
    write_tensor(f, "images", make<float>({2, 3}, DType::kF32, {0, 1, 2, 3, 4, 5}));
    H5Id images = open_dataset(f, "images");
    write_attr_string(images.get(), "encoding", "raw");
  });
  const InspectReport r = inspect_file(path);
  EXPECT_EQ(r.problem_count, 4) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"num_classes is missing"}));
  EXPECT_TRUE(has_problem(r, {"/images: dtype is float32, expected uint8"}));
  EXPECT_TRUE(has_problem(r, {"/images: rank is 2 (shape [2,3]), expected 4"}));
  EXPECT_TRUE(has_problem(r, {"/labels: required dataset is missing"}));
}

TEST(Inspect, MistypedAttributes) {
  const auto path = write("cls_attrs.h5", [](hid_t f) {
    fill_classification(f, {0, 1, 2, 0, 1}, 3, 3);
    write_attr_string(f, "num_classes", "three");
    H5Id images = open_dataset(f, "images");
    write_attr_int(images.get(), "encoding", 1);
  });
  const InspectReport r = inspect_file(path);
  EXPECT_EQ(r.problem_count, 2) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"root attribute num_classes is not an integer"}));
  EXPECT_TRUE(has_problem(r, {"/images: attribute encoding is not a string"}));
  EXPECT_EQ(r.n, 5);
}

TEST(Inspect, MaxProblemsKeepsCounting) {
  std::vector<int32_t> labels(50, 9);
  const auto path = write("many.h5", [&](hid_t f) { fill_classification(f, labels, 3, 3); });
  const InspectReport r = inspect_file(path, 10);
  EXPECT_EQ(r.problem_count, 51);  // 50 labels + the row count mismatch
  EXPECT_EQ(r.problems.size(), 10u);
  EXPECT_NE(format_report(r).find("... and 41 more"), std::string::npos);
}

TEST(Inspect, JpegRowsSignatureAndEmpty) {
  const auto path = write("jpeg.h5", [](hid_t f) {
    write_attr_string(f, "attncamp_schema", "classification/1");
    write_attr_int(f, "num_classes", 2);
    create_vlen_bytes(f, "images", 4);
    write_vlen_bytes_rows(f, "images", 0,
                          {{0xFF, 0xD8, 0xFF, 0xE0, 1, 2},
                           {},
                           {'G', 'I', 'F', '8', '9', 'a'},
                           {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0}});
    H5Id images = open_dataset(f, "images");
    write_attr_string(images.get(), "encoding", "jpeg");
    write_tensor(f, "labels", make<int32_t>({4}, DType::kI32, {0, 1, 1, 0}));
  });
  InspectReport r = inspect_file(path);
  EXPECT_EQ(r.problem_count, 2) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/images[1] is empty"}));
  EXPECT_TRUE(has_problem(r, {"/images[2] does not start with a JPEG or PNG signature"}));
  EXPECT_EQ(r.class_counts, (std::vector<int64_t>{2, 2}));

  InspectOptions decode;
  decode.decode_images = true;
  r = inspect_file(path, decode);  // rows 0 and 3 have valid signatures but are truncated
  EXPECT_EQ(r.problem_count, 4) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/images[0] does not decode"}));
  EXPECT_TRUE(has_problem(r, {"/images[3] does not decode"}));
}

// detection/1 with 3 images (sizes 10x20, 8x8, 6x4 as height x width) and 4 boxes.
struct Detection {
  std::vector<int32_t> sizes = {10, 20, 8, 8, 6, 4};
  std::vector<int64_t> ids = {101, 102, 103};
  std::vector<int64_t> offsets = {0, 2, 2, 4};
  std::vector<float> boxes = {0, 0, 20, 10, 2, 3, 4, 5, 1, 1, 3, 5, 0.5f, 0, 1, 1};
  std::vector<int32_t> labels = {0, 1, 1, 1};
  std::vector<uint8_t> crowd = {0, 1, 0, 0};
  std::vector<float> areas = {200, 20, 15, 1};
  std::vector<int32_t> categories = {1, 18};
};

void fill_detection(hid_t f, const Detection& d) {
  write_attr_string(f, "attncamp_schema", "detection/1");
  write_attr_int(f, "num_classes", 2);
  write_string_dataset(f, "class_names", {"person", "dog"});
  create_vlen_bytes(f, "images", 3);
  const std::vector<uint8_t> jpeg = {0xFF, 0xD8, 0xFF, 0xDB};
  write_vlen_bytes_rows(f, "images", 0, {jpeg, jpeg, jpeg});
  H5Id images = open_dataset(f, "images");
  write_attr_string(images.get(), "encoding", "jpeg");
  const int64_t m = static_cast<int64_t>(d.labels.size());
  write_tensor(f, "image_sizes", make<int32_t>({3, 2}, DType::kI32, d.sizes));
  write_tensor(f, "image_ids", make<int64_t>({3}, DType::kI64, d.ids));
  write_tensor(f, "box_offsets", make<int64_t>({4}, DType::kI64, d.offsets));
  write_tensor(f, "boxes", make<float>({m, 4}, DType::kF32, d.boxes));
  write_tensor(f, "box_labels", make<int32_t>({m}, DType::kI32, d.labels));
  write_tensor(f, "box_iscrowd", make<uint8_t>({m}, DType::kU8, d.crowd));
  write_tensor(f, "box_areas", make<float>({m}, DType::kF32, d.areas));
  write_tensor(f, "category_ids", make<int32_t>({2}, DType::kI32, d.categories));
}

TEST(Inspect, ValidDetection) {
  const auto path = write("det.h5", [](hid_t f) { fill_detection(f, Detection{}); });
  const InspectReport r = inspect_file(path);
  EXPECT_TRUE(r.valid()) << problems_text(r);
  EXPECT_EQ(r.n, 3);
  EXPECT_EQ(r.boxes, 4);
  EXPECT_EQ(r.class_counts, (std::vector<int64_t>{1, 3}));      // boxes per class
  EXPECT_EQ(r.images_per_class, (std::vector<int64_t>{1, 2}));  // images 0 and 2 have dogs
  EXPECT_EQ(r.min_boxes_per_image, 0);
  EXPECT_EQ(r.max_boxes_per_image, 2);
  const std::string text = format_report(r);
  EXPECT_NE(text.find("boxes per image: min 0 mean 1.33333 max 2"), std::string::npos) << text;
  EXPECT_NE(text.find("boxes per class (/box_labels): min 1 max 3, 0 of 2 classes empty"), std::string::npos) << text;
  EXPECT_NE(text.find("  1 dog: 3"), std::string::npos) << text;
  EXPECT_NE(text.find("boxes: 4; x 0..2, y 0..3, w 1..20, h 1..10"), std::string::npos) << text;
  EXPECT_NE(text.find("image height 6..10, width 4..20"), std::string::npos) << text;
}

TEST(Inspect, BrokenDetectionListsEveryProblem) {
  Detection d;
  d.boxes[2] = 21.5;  // box 0 (image 0, 20 wide): x + w = 21.5 > 20 + 1 px tolerance
  d.boxes[7] = 0;     // box 1: height 0
  d.boxes[12] = 4;    // box 3 (image 2, 4 wide): x + w = 5 is inside the 1 px tolerance
  d.labels[2] = 5;
  d.crowd[3] = 2;
  d.areas[1] = -1;
  d.ids[2] = 101;
  d.categories[1] = 1;
  auto path = write("det_bad.h5", [&](hid_t f) { fill_detection(f, d); });
  InspectReport r = inspect_file(path);
  EXPECT_EQ(r.problem_count, 7) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/boxes[0] = [0, 0, 21.5, 10] (x, y, w, h) of image 0 lies outside the 20x10"}))
      << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/boxes[1] = [2, 3, 4, 0] (x, y, w, h) of image 0 has non-positive width or height"}))
      << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/box_labels[2] = 5 is outside [0, 2)"}));
  EXPECT_TRUE(has_problem(r, {"/box_iscrowd[3] = 2 is not 0 or 1"}));
  EXPECT_TRUE(has_problem(r, {"/box_areas[1] = -1"}));
  EXPECT_TRUE(has_problem(r, {"/image_ids[2] = 101 repeats /image_ids[0]"}));
  EXPECT_TRUE(has_problem(r, {"/category_ids[1] = 1 repeats /category_ids[0]"}));

  Detection o;
  o.offsets = {1, 3, 2, 5};  // does not start at 0, goes down at 2, ends at 5 != M = 4
  path = write("det_offsets.h5", [&](hid_t f) { fill_detection(f, o); });
  r = inspect_file(path);
  EXPECT_EQ(r.problem_count, 3) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/box_offsets[0] = 1, expected 0"}));
  EXPECT_TRUE(has_problem(r, {"/box_offsets[2] = 2 is less than /box_offsets[1] = 3"}));
  EXPECT_TRUE(has_problem(r, {"/box_offsets[3] = 5, expected M = 4"}));
  EXPECT_TRUE(r.images_per_class.empty());
}

// eeg/1: 3 epochs, 2 channels, 4 samples; signal value = 10 * channel + sample + epoch.
void fill_eeg(hid_t f, std::vector<float> signals, std::vector<int32_t> labels, std::vector<std::string> channels) {
  write_attr_string(f, "attncamp_schema", "eeg/1");
  write_attr_int(f, "num_classes", 2);
  write_string_dataset(f, "class_names", {"left", "right"});
  write_tensor(f, "signals", make<float>({3, 2, 4}, DType::kF32, signals));
  write_tensor(f, "labels", make<int32_t>({static_cast<int64_t>(labels.size())}, DType::kI32, labels));
  write_tensor(f, "subjects", make<int32_t>({3}, DType::kI32, {1, 1, 2}));
  write_tensor(f, "runs", make<int32_t>({3}, DType::kI32, {4, 8, 4}));
  write_string_dataset(f, "channel_names", channels);
  write_attr_double(f, "sample_rate_hz", 160);
  write_attr_double(f, "tmin_s", 0);
  write_attr_doubles(f, "band_hz", {8, 30});
  write_attr_string(f, "source_files", "S001R04.edf");
}

std::vector<float> eeg_signals() {
  std::vector<float> s;
  for (int e = 0; e < 3; ++e)
    for (int c = 0; c < 2; ++c)
      for (int t = 0; t < 4; ++t) s.push_back(static_cast<float>(10 * c + t + e));
  return s;
}

TEST(Inspect, ValidEeg) {
  const auto path = write("eeg.h5", [](hid_t f) { fill_eeg(f, eeg_signals(), {0, 1, 1}, {"C3", "C4"}); });
  const InspectReport r = inspect_file(path);
  EXPECT_TRUE(r.valid()) << problems_text(r);
  EXPECT_EQ(r.n, 3);
  EXPECT_EQ(r.class_counts, (std::vector<int64_t>{1, 2}));
  ASSERT_EQ(r.channels.size(), 2u);
  // channel 0 holds t + e for t < 4, e < 3: min 0, max 5, mean 2.5, variance 5/4 + 2/3.
  EXPECT_EQ(r.channels[0].min, 0);
  EXPECT_EQ(r.channels[0].max, 5);
  EXPECT_DOUBLE_EQ(r.channels[0].mean, 2.5);
  EXPECT_NEAR(r.channels[0].std, std::sqrt(1.25 + 2.0 / 3), 1e-12);
  EXPECT_EQ(r.channels[1].min, 10);
  EXPECT_EQ(r.channels[1].max, 15);
  InspectOptions one_epoch_at_a_time;
  one_epoch_at_a_time.chunk_bytes = 1;
  const InspectReport s = inspect_file(path, one_epoch_at_a_time);
  EXPECT_EQ(s.channels[0].min, 0);
  EXPECT_EQ(s.channels[0].max, 5);
  EXPECT_DOUBLE_EQ(s.channels[0].mean, 2.5);
  EXPECT_DOUBLE_EQ(s.channels[1].std, r.channels[1].std);
  const std::string text = format_report(r);
  EXPECT_NE(text.find("subjects (epochs): 1 (2) 2 (1)"), std::string::npos) << text;
  EXPECT_NE(text.find("band_hz=[8, 30]"), std::string::npos) << text;
  EXPECT_NE(text.find("  C4: min 10 max 15 mean 12.5"), std::string::npos) << text;
}

TEST(Inspect, BrokenEegListsEveryProblem) {
  std::vector<float> s = eeg_signals();
  s[1 * 8 + 1 * 4 + 2] = std::numeric_limits<float>::quiet_NaN();  // epoch 1, channel 1 (C4), sample 2
  s[2 * 8 + 0 * 4 + 3] = std::numeric_limits<float>::infinity();   // epoch 2, channel 0, sample 3
  s[2 * 8 + 1 * 4 + 0] = -std::numeric_limits<float>::infinity();  // epoch 2, channel 1, sample 0
  const auto path = write("eeg_bad.h5", [&](hid_t f) {
    fill_eeg(f, s, {0, 2, 1}, {"C3"});
    write_attr_doubles(f, "band_hz", {30, 8});
  });
  const InspectReport r = inspect_file(path);
  EXPECT_EQ(r.problem_count, 5) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/labels[1] = 2 is outside [0, 2)"}));
  EXPECT_TRUE(has_problem(r, {"/channel_names: has 1 rows, expected 2"}));
  EXPECT_TRUE(has_problem(r, {"band_hz is [30, 8]"}));
  EXPECT_TRUE(has_problem(r, {"/signals[1]: 1 NaN/Inf values (first at channel 1, sample 2)"})) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/signals[2]: 2 NaN/Inf values (first at channel 0, sample 3)"})) << problems_text(r);
  InspectOptions one_epoch_at_a_time;
  one_epoch_at_a_time.chunk_bytes = 1;
  EXPECT_EQ(inspect_file(path, one_epoch_at_a_time).problems, r.problems);
  ASSERT_EQ(r.channels.size(), 2u);
  EXPECT_EQ(r.channels[1].nonfinite, 2);
  EXPECT_EQ(r.channels[1].max, 15);  // non-finite values are left out of the range
}

TEST(Inspect, Checkpoint) {
  const std::string path = test::temp_dir() + "/ckpt.h5";
  CheckpointData c;
  c.ints["step"] = 7;
  c.tensors["model/w"] = make<float>({2, 2}, DType::kF32, {1, 2, std::nanf(""), 4});
  c.tensors["opt/m"] = make<double>({3}, DType::kF64, {1, 2, 3});
  write_checkpoint(path, c);
  const InspectReport r = inspect_file(path);
  EXPECT_EQ(r.schema, "checkpoint/1");
  EXPECT_EQ(r.problem_count, 1) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/model/w: 1 NaN/Inf values (first at flat index 2)"}));
  EXPECT_NE(format_report(r).find("/opt/m  float64 [3]"), std::string::npos) << format_report(r);
}

TEST(Inspect, MissingSchemaAndUnopenableFile) {
  const auto path = write("plain.h5", [](hid_t f) { write_tensor(f, "x", make<int32_t>({1}, DType::kI32, {1})); });
  const InspectReport r = inspect_file(path);
  EXPECT_EQ(r.problem_count, 1);
  EXPECT_TRUE(has_problem(r, {"attncamp_schema is missing"}));
  const std::string bad = test::temp_dir() + "/not.h5";
  std::ofstream(bad) << "not hdf5";
  test::expect_error([&] { inspect_file(bad); }, {bad, "cannot open as HDF5"});
}

TEST(Inspect, DecodesRealImageNetJpegs) {
  const std::string dir = test::data_dir() + "/imagenet/sample_1perclass";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << dir << " is absent";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".JPEG") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 109u);
  std::vector<std::vector<uint8_t>> rows;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    rows.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  rows.push_back(std::vector<uint8_t>(rows[0].begin(), rows[0].begin() + rows[0].size() / 2));  // truncated
  const int64_t n = static_cast<int64_t>(rows.size());
  const auto path = write("imagenet.h5", [&](hid_t f) {
    write_attr_string(f, "attncamp_schema", "classification/1");
    write_attr_int(f, "num_classes", 1);
    create_vlen_bytes(f, "images", n);
    write_vlen_bytes_rows(f, "images", 0, rows);
    H5Id images = open_dataset(f, "images");
    write_attr_string(images.get(), "encoding", "jpeg");
    write_tensor(f, "labels", Tensor::zeros({n}, DType::kI32));
  });
  EXPECT_TRUE(inspect_file(path).valid());  // signatures only: the truncated row looks fine
  InspectOptions decode;
  decode.decode_images = true;
  const InspectReport r = inspect_file(path, decode);
  EXPECT_EQ(r.problem_count, 1) << problems_text(r);
  EXPECT_TRUE(has_problem(r, {"/images[109] does not decode"})) << problems_text(r);
  EXPECT_EQ(r.class_counts, (std::vector<int64_t>{110}));
}

// A detection/1 file written by h5py (an independent writer) is accepted as valid.
TEST(Inspect, AcceptsH5pyWrittenDetection) {
  const std::string path = test::temp_dir() + "/h5py_det.h5";
  const std::string script = R"(
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["attncamp_schema"] = "detection/1"
    f.attrs["num_classes"] = np.int64(2)
    f["class_names"] = np.array(["person", "dog"], dtype=h5py.string_dtype())
    img = f.create_dataset("images", (2,), dtype=h5py.vlen_dtype(np.uint8))
    img[0] = np.frombuffer(b"\xff\xd8\xff\xe0", np.uint8)
    img[1] = np.frombuffer(b"\x89PNG\r\n\x1a\n", np.uint8)
    img.attrs["encoding"] = "jpeg"
    f["image_sizes"] = np.array([[10, 20], [8, 8]], np.int32)
    f["image_ids"] = np.array([5, 7], np.int64)
    f["box_offsets"] = np.array([0, 1, 3], np.int64)
    f["boxes"] = np.array([[1, 1, 5, 5], [0, 0, 8, 8], [2, 2, 1, 1]], np.float32)
    f["box_labels"] = np.array([1, 0, 1], np.int32)
    f["box_iscrowd"] = np.array([0, 0, 1], np.uint8)
    f["box_areas"] = np.array([25, 64, 1], np.float32)
    f["category_ids"] = np.array([1, 18], np.int32)
)";
  const std::string script_path = test::temp_dir() + "/write.py";
  std::ofstream(script_path) << script;
  FILE* p = popen(("/usr/bin/python3 " + script_path + " " + path + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int rc = pclose(p);
  if (rc != 0 && out.find("No module named") != std::string::npos) GTEST_SKIP() << "h5py missing: " << out;
  ASSERT_EQ(rc, 0) << out;
  const InspectReport r = inspect_file(path);
  EXPECT_TRUE(r.valid()) << problems_text(r);
  EXPECT_EQ(r.class_counts, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(r.images_per_class, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(r.max_boxes_per_image, 2);
}

TEST(Inspect, FashionMnistTestFile) {
  const std::string in = default_fashion_mnist_dir();
  if (!std::ifstream(in + "/t10k-labels-idx1-ubyte.gz")) GTEST_SKIP() << in << " is absent (dataset-fashion-mnist)";
  const std::string out = test::temp_dir();
  convert_fashion_mnist(in, out);
  const InspectReport r = inspect_file(out + "/test.h5");
  EXPECT_TRUE(r.valid()) << problems_text(r);
  EXPECT_EQ(r.n, 10000);
  EXPECT_EQ(r.class_counts, std::vector<int64_t>(10, 1000));  // t10k is balanced
  EXPECT_EQ(r.class_names, fashion_mnist_class_names());
  EXPECT_EQ(r.pixel_min, 0);
  EXPECT_EQ(r.pixel_max, 255);
}

}  // namespace
}  // namespace attncamp::data
