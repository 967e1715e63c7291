// Tests for checkpoint files: a round trip of every kind of field, the error for a truncated
// or non-HDF5 file and a wrong schema, the accessors' errors, and atomicity: a failed write
// leaves the previous checkpoint readable and no temporary file behind.
#include "data/checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/hdf5.h"
#include "tests/test_util.h"

namespace attncamp::data {
namespace {

using test::expect_error;

namespace fs = std::filesystem;

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0);
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

CheckpointData sample_checkpoint() {
  CheckpointData c;
  c.tensors["model/blocks/0/attn/qkv_w"] = test::random_tensor({8, 24}, DType::kF32, 1);
  c.tensors["model/head_b"] = test::random_tensor({10}, DType::kF64, 2);
  Tensor i32 = Tensor::empty({3}, DType::kI32);
  for (int i = 0; i < 3; ++i) i32.data<int32_t>()[i] = -7 * (i + 1);
  c.tensors["opt/ints"] = i32;
  Tensor i64 = Tensor::empty({2, 2}, DType::kI64);
  for (int i = 0; i < 4; ++i) i64.data<int64_t>()[i] = (int64_t{1} << 40) + i;
  c.tensors["rng/state"] = i64;
  Tensor u8 = Tensor::empty({5}, DType::kU8);
  for (int i = 0; i < 5; ++i) u8.data<uint8_t>()[i] = static_cast<uint8_t>(250 + i);
  c.tensors["bytes"] = u8;
  c.tensors["scalar"] = test::random_tensor({}, DType::kF32, 3);
  c.ints = {
      {"step", 12345}, {"epoch", 3}, {"world_size", 8}, {"sampler_position", -1}, {"big", (int64_t{1} << 62) + 1}};
  c.floats = {{"lr", 3e-4}, {"loss_scale", 65536.0}, {"tiny", 1e-300}};
  c.strings = {{"config", "model {\n  dim: 64\n}\n"}, {"empty", ""}, {"git", "abc123"}};
  return c;
}

void expect_equal(const CheckpointData& a, const CheckpointData& b) {
  EXPECT_EQ(a.ints, b.ints);
  EXPECT_EQ(a.floats, b.floats);
  EXPECT_EQ(a.strings, b.strings);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [key, t] : a.tensors) {
    ASSERT_TRUE(b.tensors.count(key)) << key;
    EXPECT_TRUE(same_bytes(t, b.tensors.at(key))) << key;
  }
}

TEST(Checkpoint, RoundTrip) {
  const std::string dir = test::temp_dir();
  const std::string path = dir + "/ckpt.h5";
  const CheckpointData c = sample_checkpoint();
  write_checkpoint(path, c);
  expect_equal(c, read_checkpoint(path));
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"ckpt.h5"});
  // Overwriting replaces the whole content.
  CheckpointData c2;
  c2.ints["step"] = 1;
  write_checkpoint(path, c2);
  expect_equal(c2, read_checkpoint(path));
}

TEST(Checkpoint, Accessors) {
  const std::string path = "/some/ckpt.h5";
  const CheckpointData c = sample_checkpoint();
  EXPECT_EQ(get_int(c, "step", path), 12345);
  EXPECT_EQ(get_float(c, "lr", path), 3e-4);
  EXPECT_EQ(get_string(c, "git", path), "abc123");
  EXPECT_EQ(get_tensor(c, "model/head_b", path, {10}, DType::kF64).numel(), 10);
  expect_error([&] { get_int(c, "missing_step", path); }, {"checkpoint /some/ckpt.h5: missing field 'missing_step'"});
  expect_error([&] { get_float(c, "step", path); }, {"missing field 'step'"});
  expect_error([&] { get_string(c, "x", path); }, {"missing field 'x'"});
  expect_error([&] { get_tensor(c, "w", path); }, {"missing field 'w'"});
  expect_error(
      [&] {
        get_tensor(c, "model/head_b", path, {10, 1}, DType::kF64);
      },
      {path, "tensor 'model/head_b' has shape [10] float64, expected [10,1] float64"});
  expect_error([&] { get_tensor(c, "model/head_b", path, {10}, DType::kF32); }, {"expected [10] float32"});
}

TEST(Checkpoint, TruncatedFile) {
  const std::string path = test::temp_dir() + "/ckpt.h5";
  write_checkpoint(path, sample_checkpoint());
  fs::resize_file(path, fs::file_size(path) / 2);
  expect_error([&] { read_checkpoint(path); },
               {"checkpoint " + path + ": cannot open as HDF5 (truncated or corrupt?)"});
}

TEST(Checkpoint, NotHdf5AndMissing) {
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/text.h5") << "step=3\n";
  expect_error([&] { read_checkpoint(dir + "/text.h5"); }, {"checkpoint " + dir + "/text.h5: cannot open as HDF5"});
  expect_error([&] { read_checkpoint(dir + "/absent.h5"); }, {"checkpoint " + dir + "/absent.h5: cannot open"});
}

TEST(Checkpoint, WrongSchema) {
  const std::string dir = test::temp_dir();
  {
    H5Id f = create_file(dir + "/data.h5");
    write_attr_string(f.get(), "attncamp_schema", "classification/1");
  }
  expect_error([&] { read_checkpoint(dir + "/data.h5"); },
               {"checkpoint " + dir + "/data.h5: attncamp_schema is \"classification/1\", expected \"checkpoint/1\""});
  { H5Id f = create_file(dir + "/plain.h5"); }
  expect_error([&] { read_checkpoint(dir + "/plain.h5"); }, {dir + "/plain.h5", "attncamp_schema not found"});
}

TEST(Checkpoint, FailedWriteKeepsPreviousFile) {
  const std::string dir = test::temp_dir();
  const std::string path = dir + "/ckpt.h5";
  const CheckpointData good = sample_checkpoint();
  write_checkpoint(path, good);

  CheckpointData bad = sample_checkpoint();
  bad.ints["step"] = 99999;
  bad.tensors["zz_last/half"] = Tensor::zeros({4}, DType::kBF16);  // written last, after the others
  expect_error([&] { write_checkpoint(path, bad); }, {"/zz_last/half", "bfloat16"});
  expect_equal(good, read_checkpoint(path));
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"ckpt.h5"});

  CheckpointData clash = sample_checkpoint();
  clash.floats["step"] = 1.0;
  expect_error([&] { write_checkpoint(path, clash); }, {path, "'step' is used twice"});
  expect_equal(good, read_checkpoint(path));
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"ckpt.h5"});
}

TEST(Checkpoint, MissingFolder) {
  const std::string dir = test::temp_dir();
  const std::string path = dir + "/no/such/folder/ckpt.h5";
  expect_error([&] { write_checkpoint(path, sample_checkpoint()); }, {path});
  EXPECT_TRUE(files_in(dir).empty());
}

}  // namespace
}  // namespace attncamp::data
