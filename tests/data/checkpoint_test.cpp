// Tests for checkpoint files: a round trip of every kind of field, the error for a truncated
// or non-HDF5 file and a wrong schema, the accessors' errors, and atomicity: a failed write
// leaves the previous checkpoint readable and no temporary file behind, also when the disk fills
// up part-way (the test hook env::kTestFileSizeLimit) and the process exits cleanly afterwards.
#include "data/checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
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

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// HDF5 ids of files, datasets, groups, types and attributes open in this process (one whose
// close failed stays counted: HDF5 keeps the id).
ssize_t open_ids() { return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); }

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

// Byte counts at which the test hook cuts a write of `size` bytes short: every 97th byte from 0
// (the header, each dataset's data, the metadata written last) and the last few bytes.
std::vector<uint64_t> cut_points(uint64_t size) {
  std::vector<uint64_t> cuts;
  for (uint64_t n = 0; n < size; n += 97) cuts.push_back(n);
  for (uint64_t n = size > 4 ? size - 4 : 0; n < size; ++n) cuts.push_back(n);
  return cuts;
}

// A disk that fills up part-way through a write: whichever byte it happens at (raw data, metadata,
// the final flush), the write throws one line naming the temporary file and the reason, removes
// it, keeps the previous checkpoint byte for byte and leaves no HDF5 file id behind.
TEST(Checkpoint, DiskFullPartWayKeepsPreviousFile) {
  const std::string dir = test::temp_dir();
  const std::string path = dir + "/ckpt.h5";
  write_checkpoint(path, sample_checkpoint());
  const std::string before = file_bytes(path);
  CheckpointData next = sample_checkpoint();
  next.ints["step"] = 99999;
  const ssize_t ids = open_ids();
  for (const uint64_t cut : cut_points(before.size())) {
    SCOPED_TRACE("file size limit " + std::to_string(cut));
    const test::ScopedEnv limit(env::kTestFileSizeLimit, std::to_string(cut).c_str());
    expect_error([&] { write_checkpoint(path, next); }, {path + ".tmp-", "File too large"});
    EXPECT_EQ(file_bytes(path), before);
    EXPECT_EQ(files_in(dir), std::vector<std::string>{"ckpt.h5"});
    EXPECT_EQ(open_ids(), ids);
  }
  // Room for the whole file: the same write goes through.
  const test::ScopedEnv limit(env::kTestFileSizeLimit, std::to_string(2 * before.size()).c_str());
  write_checkpoint(path, next);
  expect_equal(next, read_checkpoint(path));
}

// HDF5 1.10 crashes at exit (SIGSEGV in H5_term_library) when a file's close ever failed; after
// failed writes, the process must still exit normally.
TEST(CheckpointDeathTest, ExitsNormallyAfterDiskFull) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::string path = test::temp_dir() + "/ckpt.h5";
  EXPECT_EXIT(
      {
        write_checkpoint(path, sample_checkpoint());
        const uint64_t size = fs::file_size(path);
        for (const uint64_t cut : cut_points(size)) {
          const test::ScopedEnv limit(env::kTestFileSizeLimit, std::to_string(cut).c_str());
          try {
            write_checkpoint(path, sample_checkpoint());
            std::exit(2);  // the limit did not stop the write
          } catch (const Error&) {
          }
        }
        std::exit(fs::file_size(path) == size ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Checkpoint, MissingFolder) {
  const std::string dir = test::temp_dir();
  const std::string path = dir + "/no/such/folder/ckpt.h5";
  expect_error([&] { write_checkpoint(path, sample_checkpoint()); }, {path});
  EXPECT_TRUE(files_in(dir).empty());
}

}  // namespace
}  // namespace attncamp::data
