// Tests for the HDF5 helpers: tensor round trips for every stored dtype (whole and by rows),
// string datasets, scalar attributes, and the one-line errors for a missing dataset, a wrong
// dtype or rank and an unstorable tensor dtype.
#include "data/hdf5.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace attncamp::data {
namespace {

using test::expect_error;

// Tensor of `dtype` with distinct, non-zero byte patterns.
Tensor pattern_tensor(const Shape& shape, DType dtype, int seed) {
  if (dtype == DType::kF32 || dtype == DType::kF64) return test::random_tensor(shape, dtype, seed);
  Tensor t = Tensor::empty(shape, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t v = (i * 7919 + seed * 104729) % 251 + 1;
    if (dtype == DType::kI32) t.data<int32_t>()[i] = static_cast<int32_t>(-v * 1000003);
    if (dtype == DType::kI64) t.data<int64_t>()[i] = -v * 1000000007LL * 1000;
    if (dtype == DType::kU8) t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
  }
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0);
}

TEST(Hdf5, TensorRoundTripAllDtypes) {
  const std::string path = test::temp_dir() + "/t.h5";
  const std::vector<DType> dtypes = {DType::kF32, DType::kF64, DType::kI32, DType::kI64, DType::kU8};
  std::vector<Tensor> written;
  {
    H5Id f = create_file(path);
    for (size_t k = 0; k < dtypes.size(); ++k) {
      written.push_back(pattern_tensor({3, 5, 2}, dtypes[k], static_cast<int>(k) + 1));
      write_tensor(f.get(), "group/sub/t" + std::to_string(k), written.back());
    }
    write_tensor(f.get(), "scalar", pattern_tensor({}, DType::kF64, 9));
    write_tensor(f.get(), "empty", Tensor::empty({0, 4}, DType::kI32));
    f.close(path);
  }
  H5Id f = open_file(path);
  for (size_t k = 0; k < dtypes.size(); ++k) {
    const std::string name = "/group/sub/t" + std::to_string(k);
    EXPECT_TRUE(same_bytes(read_tensor(f.get(), name), written[k])) << name;
    EXPECT_TRUE(same_bytes(read_tensor(f.get(), name, dtypes[k], 3), written[k])) << name;
    EXPECT_EQ(dataset_type_name(f.get(), name), numpy_dtype_name(dtypes[k]));
  }
  EXPECT_EQ(read_tensor(f.get(), "scalar").shape(), Shape{});
  EXPECT_EQ(read_tensor(f.get(), "empty").shape(), (Shape{0, 4}));
  EXPECT_TRUE(link_exists(f.get(), "group/sub"));
  EXPECT_FALSE(link_exists(f.get(), "group/nothing/t0"));
  EXPECT_FALSE(link_exists(f.get(), "scalar/child"));
}

TEST(Hdf5, ReadRows) {
  const std::string path = test::temp_dir() + "/rows.h5";
  const Tensor t = pattern_tensor({10, 3, 2}, DType::kU8, 3);
  {
    H5Id f = create_file(path);
    write_tensor(f.get(), "x", t);
  }
  H5Id f = open_file(path);
  const Tensor rows = read_rows(f.get(), "x", 4, 7, DType::kU8);
  EXPECT_TRUE(same_bytes(rows, t.slice(4, 7).clone()));
  EXPECT_EQ(read_rows(f.get(), "x", 10, 10, DType::kU8).shape(), (Shape{0, 3, 2}));
  expect_error([&] { read_rows(f.get(), "x", 8, 11, DType::kU8); }, {path, "/x", "[8, 11)", "10 rows"});
  expect_error([&] { read_rows(f.get(), "x", 0, 1, DType::kF32); }, {path, "/x has dtype uint8, expected float32"});
}

TEST(Hdf5, DatasetErrorsNameFileAndDataset) {
  const std::string path = test::temp_dir() + "/err.h5";
  {
    H5Id f = create_file(path);
    write_tensor(f.get(), "labels", pattern_tensor({4}, DType::kF32, 1));
  }
  H5Id f = open_file(path);
  expect_error([&] { read_tensor(f.get(), "labels", DType::kI32, 1); },
               {path + ": dataset /labels has dtype float32, expected int32"});
  expect_error([&] { read_tensor(f.get(), "/labels", DType::kF32, 2); },
               {path, "/labels has rank 1", "expected rank 2"});
  expect_error([&] { read_tensor(f.get(), "images"); }, {path + ": dataset /images not found"});
  expect_error([&] { read_tensor(f.get(), "a/b/c"); }, {path + ": dataset /a/b/c not found"});
}

TEST(Hdf5, RejectsUnstorableDtypeAndDuplicate) {
  const std::string path = test::temp_dir() + "/bad.h5";
  H5Id f = create_file(path);
  expect_error([&] { write_tensor(f.get(), "w", Tensor::zeros({2}, DType::kBF16)); }, {path, "/w", "bfloat16"});
  write_tensor(f.get(), "w", Tensor::zeros({2}));
  expect_error([&] { write_tensor(f.get(), "w", Tensor::zeros({2})); }, {path, "/w", "already exists"});
  expect_error([&] { write_tensor(f.get(), "w/x/y", Tensor::zeros({2})); }, {path, "/w/x/y", "/w is not a group"});
}

TEST(Hdf5, StringsAndAttributes) {
  const std::string path = test::temp_dir() + "/attrs.h5";
  const std::vector<std::string> names = {"T-shirt/top", "Ankle boot", "", "caf\xc3\xa9"};
  {
    H5Id f = create_file(path);
    write_string_dataset(f.get(), "class_names", names);
    write_string_dataset(f.get(), "none", {});
    write_attr_int(f.get(), "num_classes", 10);
    write_attr_int(f.get(), "num_classes", -123456789012345);  // replaces
    write_attr_double(f.get(), "lr", 0.1);
    write_attr_string(f.get(), "schema", "classification/1");
    write_tensor(f.get(), "x", Tensor::zeros({1}));
    H5Id ds = open_dataset(f.get(), "x");
    write_attr_string(ds.get(), "encoding", "raw");
  }
  H5Id f = open_file(path);
  EXPECT_EQ(read_string_dataset(f.get(), "class_names"), names);
  EXPECT_TRUE(read_string_dataset(f.get(), "none").empty());
  EXPECT_EQ(read_attr_int(f.get(), "num_classes"), -123456789012345);
  EXPECT_EQ(read_attr_double(f.get(), "lr"), 0.1);
  EXPECT_EQ(read_attr_double(f.get(), "num_classes"), -123456789012345.0);
  EXPECT_EQ(read_attr_string(f.get(), "schema"), "classification/1");
  EXPECT_EQ(attr_names(f.get()), (std::vector<std::string>{"lr", "num_classes", "schema"}));
  EXPECT_EQ(attr_kind(f.get(), "lr"), AttrKind::kFloat);
  EXPECT_EQ(attr_kind(f.get(), "num_classes"), AttrKind::kInt);
  EXPECT_EQ(attr_kind(f.get(), "schema"), AttrKind::kString);
  H5Id ds = open_dataset(f.get(), "x");
  EXPECT_EQ(read_attr_string(ds.get(), "encoding"), "raw");
  expect_error([&] { read_attr_int(f.get(), "schema"); }, {path, "attribute 'schema'", "expected an integer"});
  expect_error([&] { read_attr_string(f.get(), "missing"); }, {path, "attribute 'missing' not found"});
  expect_error([&] { read_string_dataset(f.get(), "x"); }, {path, "/x has dtype float32, expected strings"});
}

TEST(Hdf5, OpenErrorsAndIdMoves) {
  const std::string dir = test::temp_dir();
  expect_error([&] { open_file(dir + "/absent.h5"); }, {dir + "/absent.h5: cannot open as HDF5"});
  EXPECT_FALSE(try_open_file(dir + "/absent.h5").valid());
  expect_error([&] { create_file(dir + "/no/such/dir/x.h5"); }, {dir + "/no/such/dir/x.h5", "cannot create"});
  H5Id a = create_file(dir + "/m.h5");
  const hid_t raw = a.get();
  H5Id b = std::move(a);
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(b.get(), raw);
  H5Id c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_EQ(file_name_of(c.get()), dir + "/m.h5");
}

// Streaming writes (pre-created dataset, row ranges), variable-length bytes and array attributes,
// read back here and by h5py (an independent reader) when Debian's python3-h5py is installed.
TEST(Hdf5, RowWritesVlenBytesAndArrayAttributes) {
  const std::string path = test::temp_dir() + "/rows.h5";
  std::vector<std::vector<uint8_t>> blobs = {{1, 2, 3}, {}, {255}, {7, 7, 7, 7, 7}};
  {
    H5Id f = create_file(path);
    create_dataset(f.get(), "images", DType::kU8, {5, 2, 3});
    Tensor rows = Tensor::empty({2, 2, 3}, DType::kU8);
    for (int64_t i = 0; i < rows.numel(); ++i) rows.data<uint8_t>()[i] = static_cast<uint8_t>(10 + i);
    write_rows(f.get(), "images", 3, rows);
    expect_error([&] { write_rows(f.get(), "images", 4, rows); }, {path, "/images", "rows [4, 6)", "5 rows"});
    expect_error(
        [&] {
          write_rows(f.get(), "images", 0, Tensor::zeros({1, 2, 3}, DType::kI32));
        },
        {path, "/images", "int32"});
    create_vlen_bytes(f.get(), "jpeg", 4);
    write_vlen_bytes_rows(f.get(), "jpeg", 1, {blobs[1], blobs[2], blobs[3]});
    write_vlen_bytes_rows(f.get(), "jpeg", 0, {blobs[0]});
    write_attr_doubles(f.get(), "band_hz", {8.0, 30.0});
  }
  H5Id f = open_file(path);
  const Tensor back = read_rows(f.get(), "images", 3, 5, DType::kU8);
  EXPECT_EQ(back.data<uint8_t>()[0], 10);
  EXPECT_EQ(back.data<uint8_t>()[11], 21);
  EXPECT_EQ(read_vlen_bytes_rows(f.get(), "jpeg", 0, 4), blobs);
  EXPECT_EQ(read_vlen_bytes_rows(f.get(), "jpeg", 2, 3)[0], blobs[2]);
  expect_error([&] { read_vlen_bytes_rows(f.get(), "images", 0, 1); }, {path, "/images", "variable-length uint8"});
  EXPECT_EQ(read_attr_doubles(f.get(), "band_hz"), (std::vector<double>{8.0, 30.0}));
  const std::string py =
      "import h5py, numpy as np, sys\n"
      "f = h5py.File(sys.argv[1], 'r')\n"
      "assert [list(r) for r in f['jpeg']] == [[1,2,3], [], [255], [7]*5], [list(r) for r in f['jpeg']]\n"
      "assert f['jpeg'][2].dtype == np.uint8\n"
      "assert list(f.attrs['band_hz']) == [8.0, 30.0]\n"
      "assert f['images'][3, 0, 0] == 10 and f['images'][4, 1, 2] == 21\n"
      "print('h5py ok')\n";
  if (std::system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") != 0)
    GTEST_SKIP() << "python3-h5py is not installed";
  const std::string script = test::temp_dir() + "/check.py";
  std::ofstream(script) << py;
  EXPECT_EQ(std::system(("/usr/bin/python3 " + script + " " + path).c_str()), 0);
}

}  // namespace
}  // namespace attncamp::data
