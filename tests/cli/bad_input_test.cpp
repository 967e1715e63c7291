// End-to-end bad-input tests of the attncamp binary: each case must end with
// exactly one line "attncamp: error: ..." naming the file and what is wrong,
// a non-zero exit code, and no crash (no signal, no core dump).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>

#include "data/fashion_mnist.h"
#include "tests/test_util.h"
#include "tests/tiny_data.h"

namespace attncamp {
namespace {

namespace fs = std::filesystem;

class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::temp_dir());
    test::write_tiny_fashion_mnist(*dir_, 64, 32);
    data::convert_fashion_mnist(*dir_, *dir_);
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string write_config(const std::string& text) {
    const std::string path = test::temp_dir() + "/exp.pbtxt";
    std::ofstream(path) << text;
    return path;
  }
  static std::string good_config_text() { return test::tiny_config_text(*dir_, test::temp_dir()); }

  // Runs attncamp and checks the failure contract; returns the error line.
  static std::string expect_clean_failure(const std::string& args) {
    const test::CommandResult r = test::run_attncamp(args);
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_LT(r.exit_code, 128) << "killed by a signal: " << r.output;
    EXPECT_EQ(r.output.find("core dumped"), std::string::npos);
    std::string out = r.output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    EXPECT_EQ(out.find('\n'), std::string::npos) << "expected one line, got:\n" << r.output;
    EXPECT_EQ(out.rfind("attncamp: error: ", 0), 0u) << r.output;
    return out;
  }
  static std::string* dir_;
};
std::string* BadInput::dir_ = nullptr;

TEST_F(BadInput, TypoInConfigField) {
  std::string text = good_config_text();
  text.replace(text.find("mlp_dim"), 7, "mlp_dmi");
  const std::string cfg = write_config(text);
  const std::string err = expect_clean_failure("train --config " + cfg);
  EXPECT_NE(err.find(cfg + ":2:"), std::string::npos) << err;  // file and line
  EXPECT_NE(err.find("mlp_dmi"), std::string::npos) << err;
}

TEST_F(BadInput, OutOfRangeOverride) {
  const std::string cfg = write_config(good_config_text());
  const std::string err = expect_clean_failure("train --config " + cfg + " --set model.vit.heads=5");
  EXPECT_NE(err.find("model.vit.heads"), std::string::npos) << err;
}

TEST_F(BadInput, MissingDatasetFile) {
  std::string text = good_config_text();
  const std::string missing = *dir_ + "/no_such_file.h5";
  const std::string cfg = write_config(text);
  const std::string err = expect_clean_failure("train --config " + cfg + " --set data.train_path=" + missing);
  EXPECT_NE(err.find(missing), std::string::npos) << err;
}

TEST_F(BadInput, FileWithoutLabels) {
  const std::string path = test::temp_dir() + "/nolabels.h5";
  fs::copy_file(*dir_ + "/train.h5", path);
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  ASSERT_GE(H5Ldelete(f, "/labels", H5P_DEFAULT), 0);
  H5Fclose(f);
  const std::string cfg = write_config(good_config_text());
  const std::string err = expect_clean_failure("train --config " + cfg + " --set data.train_path=" + path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("/labels"), std::string::npos) << err;
}

TEST_F(BadInput, LabelOutsideClassRange) {
  const std::string path = test::temp_dir() + "/badlabel.h5";
  fs::copy_file(*dir_ + "/train.h5", path);
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  const hid_t d = H5Dopen2(f, "/labels", H5P_DEFAULT);
  const hid_t space = H5Dget_space(d);
  const hsize_t start = 17, count = 1;
  H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, nullptr, &count, nullptr);
  const hid_t mem = H5Screate_simple(1, &count, nullptr);
  const int32_t bad = 12;
  ASSERT_GE(H5Dwrite(d, H5T_NATIVE_INT32, mem, space, H5P_DEFAULT, &bad), 0);
  H5Sclose(mem);
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
  const std::string cfg = write_config(good_config_text());
  const std::string err = expect_clean_failure("train --config " + cfg + " --set data.train_path=" + path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("17"), std::string::npos) << err;
  EXPECT_NE(err.find("12"), std::string::npos) << err;
}

TEST_F(BadInput, TruncatedCheckpoint) {
  const std::string out = test::temp_dir();
  std::string text = test::tiny_config_text(*dir_, out);
  const std::string cfg = write_config(text);
  const test::CommandResult ok = test::run_attncamp("train --config " + cfg + " --set trainer.max_steps=2");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  const std::string ckpt = out + "/checkpoint.h5";
  fs::resize_file(ckpt, fs::file_size(ckpt) / 2);
  std::string err = expect_clean_failure("eval --config " + cfg + " --checkpoint " + ckpt);
  EXPECT_NE(err.find(ckpt), std::string::npos) << err;
  err = expect_clean_failure("train --config " + cfg + " --resume " + ckpt);
  EXPECT_NE(err.find(ckpt), std::string::npos) << err;
}

// A training file without samples would train 0 steps and write a checkpoint of the initial
// parameters; it is an error naming the file, before anything is written.
TEST_F(BadInput, EmptyTrainingFile) {
  const std::string data = test::temp_dir();
  test::write_tiny_fashion_mnist(data, 0, 8);
  data::convert_fashion_mnist(data, data);
  const std::string out = test::temp_dir() + "/run";
  const std::string err = expect_clean_failure("train --config " + write_config(test::tiny_config_text(data, out)));
  EXPECT_NE(err.find(data + "/train.h5: has no training samples"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(out + "/checkpoint.h5"));
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(BadInput, MissingConfigFile) {
  const std::string err = expect_clean_failure("train --config /nonexistent/exp.pbtxt");
  EXPECT_NE(err.find("/nonexistent/exp.pbtxt"), std::string::npos) << err;
}

}  // namespace
}  // namespace attncamp
