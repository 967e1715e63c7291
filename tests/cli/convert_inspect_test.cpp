// The data commands end to end through the binary: converters on the real fixture data followed
// by `attncamp inspect` (exit 0 and "valid"), inspect of a broken file (exit 1, every problem
// named), and converter bad input (exit 1, one "attncamp: error:" line naming file and field).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/fashion_mnist.h"
#include "data/hdf5.h"
#include "runtime/tensor.h"
#include "tests/test_util.h"
#include "tests/tiny_data.h"

namespace attncamp {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& piece) { return s.find(piece) != std::string::npos; }

// One error line, exit code 1, no signal.
std::string expect_one_error_line(const test::CommandResult& r) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  std::string out = r.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const size_t last = out.rfind('\n');
  const std::string line = last == std::string::npos ? out : out.substr(last + 1);
  EXPECT_EQ(line.rfind("attncamp: error: ", 0), 0u) << r.output;
  return line;
}

TEST(ConvertInspect, FashionMnistFileIsValidAndBrokenLabelsAreListed) {
  const std::string dir = test::temp_dir();
  test::write_tiny_fashion_mnist(dir, 40, 20);
  data::convert_fashion_mnist(dir, dir);
  test::CommandResult ok = test::run_attncamp("inspect " + dir + "/test.h5");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(contains(ok.output, "classification/1")) << ok.output;
  EXPECT_TRUE(contains(ok.output, "valid: no problems found")) << ok.output;

  // A file with two bad labels: both are listed with their index, and the exit code is 1.
  const std::string bad = dir + "/bad.h5";
  {
    data::H5Id f = data::create_file(bad);
    data::write_attr_string(f.get(), "attncamp_schema", "classification/1");
    data::write_attr_int(f.get(), "num_classes", 3);
    data::write_tensor(f.get(), "images", Tensor::zeros({4, 2, 2, 1}, DType::kU8));
    data::H5Id ds = data::open_dataset(f.get(), "images");
    data::write_attr_string(ds.get(), "encoding", "raw");
    Tensor labels = Tensor::zeros({4}, DType::kI32);
    labels.data<int32_t>()[1] = 7;
    labels.data<int32_t>()[3] = -1;
    data::write_tensor(f.get(), "labels", labels);
  }
  test::CommandResult r = test::run_attncamp("inspect " + bad);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "/labels[1] = 7")) << r.output;
  EXPECT_TRUE(contains(r.output, "/labels[3] = -1")) << r.output;
}

TEST(ConvertInspect, ImagenetSampleConvertsAndInspectsValid) {
  const std::string src = test::data_dir() + "/imagenet/sample_1perclass";
  if (!fs::exists(src)) GTEST_SKIP() << src << " is absent (fixture data not available)";
  const std::string out = test::temp_dir() + "/imagenet.h5";
  test::CommandResult c = test::run_attncamp("convert imagenet --input " + src + " --labels " + src +
                                             "/labels.tsv --num-classes 1000 --size 64 --crop --output " + out);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_TRUE(contains(c.output, "109 samples written, 0 skipped")) << c.output;
  test::CommandResult i = test::run_attncamp("inspect --decode " + out);
  EXPECT_EQ(i.exit_code, 0) << i.output;
  EXPECT_TRUE(contains(i.output, "valid: no problems found")) << i.output;
}

TEST(ConvertInspect, CocoTinyConvertsAndBadJsonIsOneLine) {
  const std::string src = test::data_dir() + "/coco/coco_tiny";
  if (!fs::exists(src)) GTEST_SKIP() << src << " is absent (fixture data not available)";
  const std::string out = test::temp_dir() + "/val.h5";
  test::CommandResult c =
      test::run_attncamp("convert coco --annotations " + src + "/annotations/instances_val2017.json --images " + src +
                         "/val2017 --output " + out);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_TRUE(contains(c.output, "80 images, 815 boxes, 80 classes")) << c.output;
  EXPECT_EQ(test::run_attncamp("inspect " + out).exit_code, 0);

  const std::string bad_json = test::temp_dir() + "/bad.json";
  std::ofstream(bad_json) << "{\"images\": [ {\"id\": 1,, } ] }";
  const std::string bad_out = test::temp_dir() + "/bad.h5";
  const std::string line = expect_one_error_line(test::run_attncamp(
      "convert coco --annotations " + bad_json + " --images " + src + "/val2017 --output " + bad_out));
  EXPECT_TRUE(contains(line, bad_json)) << line;
  EXPECT_TRUE(contains(line, "malformed JSON")) << line;
  EXPECT_FALSE(fs::exists(bad_out));
}

TEST(ConvertInspect, EegWithoutMatchingEventsNamesTheFile) {
  const std::string edf = test::data_dir() + "/eeg/physionet_mmi_S001/S001R04.edf";
  if (!fs::exists(edf)) GTEST_SKIP() << edf << " is absent (fixture data not available)";
  const std::string out = test::temp_dir() + "/eeg.h5";
  const std::string line =
      expect_one_error_line(test::run_attncamp("convert eeg --input " + edf + " --events T7=x --output " + out));
  EXPECT_TRUE(contains(line, edf)) << line;
  EXPECT_TRUE(contains(line, "T1")) << line;  // lists the events the file has
  EXPECT_FALSE(fs::exists(out));
  test::CommandResult c =
      test::run_attncamp("convert eeg --input " + edf + " --events T1=left,T2=right --band 8,30 --output " + out);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_TRUE(contains(c.output, "15 samples written")) << c.output;
  EXPECT_EQ(test::run_attncamp("inspect " + out).exit_code, 0);
}

}  // namespace
}  // namespace attncamp
