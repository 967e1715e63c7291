// Tests for the IDX reader: small hand-written files, gzip'd and plain, and the one-line
// errors for a missing file, a bad magic number, a truncated body and trailing bytes.
#include "data/idx.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace attncamp::data {
namespace {

using test::expect_error;

// Header for a uint8 IDX file of the given dims, followed by `body`.
std::vector<unsigned char> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<unsigned char>& body) {
  std::vector<unsigned char> b = {0, 0, 0x08, static_cast<unsigned char>(dims.size())};
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(d >> s));
  }
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

void write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

void write_plain(const std::string& path, const std::vector<unsigned char>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
}

std::vector<unsigned char> body(size_t n) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>((i * 37 + 11) % 256);
  return v;
}

// Runs `f`, expects attncamp::Error whose single-line message contains every piece.
TEST(Idx, ReadsGzipFile) {
  const std::string path = test::temp_dir() + "/small-idx3-ubyte.gz";
  const auto data = body(2 * 3 * 4);
  write_gz(path, idx_bytes({2, 3, 4}, data));
  const Tensor t = read_idx(path);
  EXPECT_EQ(t.dtype(), DType::kU8);
  EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
  for (size_t i = 0; i < data.size(); ++i) EXPECT_EQ(t.data<uint8_t>()[i], data[i]) << i;
}

TEST(Idx, ReadsPlainFileAndLargeDims) {
  const std::string path = test::temp_dir() + "/labels-idx1-ubyte";
  const auto data = body(70000);
  write_plain(path, idx_bytes({70000}, data));
  const Tensor t = read_idx(path);
  EXPECT_EQ(t.shape(), (Shape{70000}));
  EXPECT_EQ(t.data<uint8_t>()[69999], data[69999]);
}

TEST(Idx, MissingFile) {
  const std::string path = test::temp_dir() + "/absent.gz";
  expect_error([&] { read_idx(path); }, {path, "cannot open"});
}

TEST(Idx, BadMagic) {
  const std::string path = test::temp_dir() + "/bad.gz";
  write_gz(path, {0x1f, 0x00, 0x08, 0x01, 0, 0, 0, 1, 5});
  expect_error([&] { read_idx(path); }, {path, "magic"});
}

TEST(Idx, UnsupportedElementType) {
  const std::string path = test::temp_dir() + "/float.gz";
  write_gz(path, {0x00, 0x00, 0x0d, 0x01, 0, 0, 0, 1, 0, 0, 0, 0});
  expect_error([&] { read_idx(path); }, {path, "element type 0xd"});
}

TEST(Idx, TruncatedBody) {
  const std::string path = test::temp_dir() + "/short.gz";
  write_gz(path, idx_bytes({10, 28, 28}, body(10 * 28 * 28 - 5)));
  expect_error([&] { read_idx(path); }, {path, "truncated", "[10,28,28]"});
}

TEST(Idx, TruncatedHeader) {
  const std::string path = test::temp_dir() + "/header.gz";
  write_gz(path, {0x00, 0x00, 0x08, 0x03, 0, 0, 0, 1});
  expect_error([&] { read_idx(path); }, {path, "truncated IDX header"});
}

TEST(Idx, TrailingBytes) {
  const std::string path = test::temp_dir() + "/long.gz";
  write_gz(path, idx_bytes({4}, body(6)));
  expect_error([&] { read_idx(path); }, {path, "bytes after"});
}

}  // namespace
}  // namespace attncamp::data
