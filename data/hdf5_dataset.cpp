// HDF5 helpers, datasets: link checks, tensors written whole or streamed by row ranges, row-range
// reads (hyperslabs), variable-length byte rows (encoded images) and string datasets. Messages
// name the file (H5Fget_name) and the dataset path with one leading '/'.
#include <cstring>
#include <utility>

#include "data/hdf5.h"
#include "data/hdf5_internal.h"

namespace attncamp::data {

using hdf5_detail::dtype_of;
using hdf5_detail::file_type;
using hdf5_detail::mem_type;
using hdf5_detail::simple_space;
using hdf5_detail::space_shape;
using hdf5_detail::type_name;
using hdf5_detail::vlen_string_type;

namespace {

// Shows a dataset or attribute path with exactly one leading '/'.
std::string display(const std::string& name) { return name.empty() || name[0] != '/' ? "/" + name : name; }

// Link-creation properties that create missing intermediate groups ("a/b/c").
H5Id intermediate_groups_plist(const std::string& where) {
  H5Id p = h5_plist(ATTNCAMP_H5_CHECK(H5Pcreate(H5P_LINK_CREATE), where, ": cannot create property list"));
  ATTNCAMP_H5_CHECK(H5Pset_create_intermediate_group(p.get(), 1), where, ": cannot create property list");
  return p;
}

}  // namespace

bool link_exists(hid_t loc, const std::string& name) {
  std::string partial = !name.empty() && name[0] == '/' ? "/" : "";
  size_t pos = 0;
  bool any = false;
  while (pos <= name.size()) {
    size_t next = name.find('/', pos);
    if (next == std::string::npos) next = name.size();
    const std::string part = name.substr(pos, next - pos);
    pos = next + 1;
    if (part.empty()) continue;
    partial += (partial.empty() || partial.back() == '/' ? "" : "/") + part;
    if (H5Lexists(loc, partial.c_str(), H5P_DEFAULT) <= 0) return false;
    any = true;
  }
  return any;
}

H5Id open_dataset(hid_t loc, const std::string& name) {
  if (!link_exists(loc, name)) ATTNCAMP_THROW(file_name_of(loc), ": dataset ", display(name), " not found");
  return h5_dataset(ATTNCAMP_H5_CHECK(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), file_name_of(loc), ": cannot open ",
                                      display(name), " as a dataset"));
}

Shape dataset_shape(hid_t loc, const std::string& name) {
  H5Id ds = open_dataset(loc, name);
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  H5Id space = h5_space(ATTNCAMP_H5_CHECK(H5Dget_space(ds.get()), where, ": cannot read the dataspace"));
  return space_shape(space.get(), where);
}

std::string dataset_type_name(hid_t loc, const std::string& name) {
  H5Id ds = open_dataset(loc, name);
  H5Id type = h5_type(ATTNCAMP_H5_CHECK(H5Dget_type(ds.get()), file_name_of(loc), ": dataset ", display(name),
                                        ": cannot read the type"));
  return type_name(type.get());
}

namespace {

// Throws unless dataset `name` can be created: it must not exist, and no prefix of it may be
// something other than a group.
void check_new_dataset(hid_t loc, const std::string& name, const std::string& where) {
  size_t slash = name.find('/', 1);
  while (slash != std::string::npos) {
    const std::string prefix = name.substr(0, slash);
    if (!prefix.empty() && prefix != "/" && link_exists(loc, prefix)) {
      H5O_info_t info;
      ATTNCAMP_H5_CHECK(H5Oget_info_by_name(loc, prefix.c_str(), &info, H5P_DEFAULT), where, ": cannot inspect ",
                        display(prefix));
      if (info.type != H5O_TYPE_GROUP) ATTNCAMP_THROW(where, ": cannot create, ", display(prefix), " is not a group");
    }
    slash = name.find('/', slash + 1);
  }
  if (link_exists(loc, name)) ATTNCAMP_THROW(where, ": cannot create, it already exists");
}

}  // namespace

void write_tensor(hid_t loc, const std::string& name, const Tensor& t) {
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  if (!t.defined()) ATTNCAMP_THROW(where, ": tensor is undefined");
  if (mem_type(t.dtype()) < 0) {
    ATTNCAMP_THROW(where, ": cannot store dtype ", numpy_dtype_name(t.dtype()),
                   " (supported: float32, float64, int32, int64, uint8; convert to float32 first)");
  }
  if (!t.device().is_cpu() || !t.is_contiguous()) {
    ATTNCAMP_THROW(where, ": tensor must be contiguous and on the CPU (it is on ", t.device().str(), ")");
  }
  check_new_dataset(loc, name, where);
  H5Id space = simple_space(t.shape(), where);
  H5Id lcpl = intermediate_groups_plist(where);
  H5Id ds = h5_dataset(ATTNCAMP_H5_CHECK(
      H5Dcreate2(loc, name.c_str(), file_type(t.dtype()), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), where,
      ": cannot create"));
  if (t.numel() > 0) {
    ATTNCAMP_H5_CHECK(H5Dwrite(ds.get(), mem_type(t.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw_data()), where,
                      ": cannot write");
  }
  ds.close(where);
}

namespace {

// Opens `name` and checks its element type against `dtype` (any supported type when null).
DType check_dataset_dtype(hid_t ds, const std::string& where, const DType* dtype) {
  H5Id type = h5_type(ATTNCAMP_H5_CHECK(H5Dget_type(ds), where, ": cannot read the type"));
  DType found;
  const bool known = dtype_of(type.get(), &found);
  if (dtype && (!known || found != *dtype)) {
    ATTNCAMP_THROW(where, " has dtype ", type_name(type.get()), ", expected ", numpy_dtype_name(*dtype));
  }
  if (!known) {
    ATTNCAMP_THROW(where, " has dtype ", type_name(type.get()), ", which is not a tensor type (float32, float64, ",
                   "int32, int64, uint8)");
  }
  return found;
}

}  // namespace

Tensor read_tensor(hid_t loc, const std::string& name) {
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  H5Id ds = open_dataset(loc, name);
  const DType dtype = check_dataset_dtype(ds.get(), where, nullptr);
  return read_tensor(loc, name, dtype, -1);
}

Tensor read_tensor(hid_t loc, const std::string& name, DType dtype, int rank) {
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  H5Id ds = open_dataset(loc, name);
  check_dataset_dtype(ds.get(), where, &dtype);
  H5Id space = h5_space(ATTNCAMP_H5_CHECK(H5Dget_space(ds.get()), where, ": cannot read the dataspace"));
  const Shape shape = space_shape(space.get(), where);
  if (rank >= 0 && static_cast<int>(shape.size()) != rank) {
    ATTNCAMP_THROW(where, " has rank ", shape.size(), " (shape ", shape_str(shape), "), expected rank ", rank);
  }
  Tensor t = Tensor::empty(shape, dtype);
  if (t.numel() > 0) {
    ATTNCAMP_H5_CHECK(H5Dread(ds.get(), mem_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw_data()), where,
                      ": cannot read (truncated or corrupt file?)");
  }
  return t;
}

Tensor read_rows(hid_t loc, const std::string& name, int64_t start, int64_t end, DType dtype) {
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  H5Id ds = open_dataset(loc, name);
  check_dataset_dtype(ds.get(), where, &dtype);
  H5Id space = h5_space(ATTNCAMP_H5_CHECK(H5Dget_space(ds.get()), where, ": cannot read the dataspace"));
  Shape shape = space_shape(space.get(), where);
  if (shape.empty()) ATTNCAMP_THROW(where, " is a scalar; it has no rows");
  if (start < 0 || start > end || end > shape[0]) {
    ATTNCAMP_THROW(where, ": rows [", start, ", ", end, ") are outside its ", shape[0], " rows");
  }
  shape[0] = end - start;
  Tensor t = Tensor::empty(shape, dtype);
  if (t.numel() == 0) return t;
  std::vector<hsize_t> offset(shape.size(), 0), count(shape.begin(), shape.end());
  offset[0] = static_cast<hsize_t>(start);
  ATTNCAMP_H5_CHECK(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, offset.data(), nullptr, count.data(), nullptr),
                    where, ": cannot select rows");
  H5Id mem = simple_space(shape, where);
  ATTNCAMP_H5_CHECK(H5Dread(ds.get(), mem_type(dtype), mem.get(), space.get(), H5P_DEFAULT, t.raw_data()), where,
                    ": cannot read rows (truncated or corrupt file?)");
  return t;
}

void write_string_dataset(hid_t loc, const std::string& name, const std::vector<std::string>& values) {
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  check_new_dataset(loc, name, where);
  H5Id type = vlen_string_type(where);
  H5Id space = simple_space({static_cast<int64_t>(values.size())}, where);
  H5Id lcpl = intermediate_groups_plist(where);
  H5Id ds = h5_dataset(
      ATTNCAMP_H5_CHECK(H5Dcreate2(loc, name.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                        where, ": cannot create"));
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (!ptrs.empty()) {
    ATTNCAMP_H5_CHECK(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), where,
                      ": cannot write");
  }
  ds.close(where);
}

std::vector<std::string> read_string_dataset(hid_t loc, const std::string& name) {
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  H5Id ds = open_dataset(loc, name);
  H5Id ftype = h5_type(ATTNCAMP_H5_CHECK(H5Dget_type(ds.get()), where, ": cannot read the type"));
  if (H5Tget_class(ftype.get()) != H5T_STRING) {
    ATTNCAMP_THROW(where, " has dtype ", type_name(ftype.get()), ", expected strings");
  }
  H5Id space = h5_space(ATTNCAMP_H5_CHECK(H5Dget_space(ds.get()), where, ": cannot read the dataspace"));
  const Shape shape = space_shape(space.get(), where);
  if (shape.size() != 1) ATTNCAMP_THROW(where, " has shape ", shape_str(shape), ", expected a 1-D list of strings");
  const size_t n = static_cast<size_t>(shape[0]);
  std::vector<std::string> out;
  if (n == 0) return out;
  if (ATTNCAMP_H5_CHECK(H5Tis_variable_str(ftype.get()), where, ": cannot inspect the string type") > 0) {
    H5Id mtype = vlen_string_type(where);
    std::vector<char*> buf(n, nullptr);
    ATTNCAMP_H5_CHECK(H5Dread(ds.get(), mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), where,
                      ": cannot read");
    for (char* s : buf) out.emplace_back(s ? s : "");
    H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, buf.data());
  } else {
    const size_t size = H5Tget_size(ftype.get());
    H5Id mtype = h5_type(ATTNCAMP_H5_CHECK(H5Tcopy(ftype.get()), where, ": cannot copy the string type"));
    std::vector<char> buf(n * size);
    ATTNCAMP_H5_CHECK(H5Dread(ds.get(), mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), where,
                      ": cannot read");
    for (size_t i = 0; i < n; ++i) {
      const char* s = buf.data() + i * size;
      out.emplace_back(s, strnlen(s, size));
    }
  }
  return out;
}

// --- Streaming row writes, variable-length bytes -------------------------------------------------

void create_dataset(hid_t loc, const std::string& name, DType dtype, const Shape& shape) {
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  if (mem_type(dtype) < 0) ATTNCAMP_THROW(where, ": cannot store dtype ", numpy_dtype_name(dtype));
  check_new_dataset(loc, name, where);
  H5Id space = simple_space(shape, where);
  H5Id lcpl = intermediate_groups_plist(where);
  H5Id ds = h5_dataset(ATTNCAMP_H5_CHECK(
      H5Dcreate2(loc, name.c_str(), file_type(dtype), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), where,
      ": cannot create"));
  ds.close(where);
}

namespace {

// Opens `name`, checks it has at least `start + count` rows and selects them in its dataspace.
// Returns {dataset, file space}; `shape` receives the dataset's shape.
std::pair<H5Id, H5Id> select_rows(hid_t loc, const std::string& name, int64_t start, int64_t count,
                                  const std::string& where, Shape* shape) {
  H5Id ds = open_dataset(loc, name);
  H5Id space = h5_space(ATTNCAMP_H5_CHECK(H5Dget_space(ds.get()), where, ": cannot read the dataspace"));
  *shape = space_shape(space.get(), where);
  if (shape->empty()) ATTNCAMP_THROW(where, " is a scalar; it has no rows");
  if (start < 0 || count < 0 || start + count > (*shape)[0]) {
    ATTNCAMP_THROW(where, ": rows [", start, ", ", start + count, ") are outside its ", (*shape)[0], " rows");
  }
  std::vector<hsize_t> offset(shape->size(), 0), counts(shape->begin(), shape->end());
  offset[0] = static_cast<hsize_t>(start);
  counts[0] = static_cast<hsize_t>(count);
  if (count > 0) {
    ATTNCAMP_H5_CHECK(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, offset.data(), nullptr, counts.data(), nullptr),
                      where, ": cannot select rows");
  }
  return {std::move(ds), std::move(space)};
}

H5Id vlen_u8_type(const std::string& where) {
  return h5_type(ATTNCAMP_H5_CHECK(H5Tvlen_create(H5T_NATIVE_UINT8), where, ": cannot create the vlen type"));
}

}  // namespace

void write_rows(hid_t loc, const std::string& name, int64_t start, const Tensor& rows) {
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  if (!rows.device().is_cpu() || !rows.is_contiguous() || rows.dim() == 0) {
    ATTNCAMP_THROW(where, ": rows must be a contiguous CPU tensor with a row dimension");
  }
  Shape shape;
  auto [ds, space] = select_rows(loc, name, start, rows.size(0), where, &shape);
  const DType want = rows.dtype();
  check_dataset_dtype(ds.get(), where, &want);
  Shape expect = shape;
  expect[0] = rows.size(0);
  if (rows.shape() != expect) {
    ATTNCAMP_THROW(where, ": rows have shape ", shape_str(rows.shape()), ", expected ", shape_str(expect));
  }
  if (rows.numel() == 0) return;
  H5Id mem = simple_space(rows.shape(), where);
  ATTNCAMP_H5_CHECK(H5Dwrite(ds.get(), mem_type(rows.dtype()), mem.get(), space.get(), H5P_DEFAULT, rows.raw_data()),
                    where, ": cannot write rows");
}

void create_vlen_bytes(hid_t loc, const std::string& name, int64_t n) {
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  check_new_dataset(loc, name, where);
  H5Id type = vlen_u8_type(where);
  H5Id space = simple_space({n}, where);
  H5Id lcpl = intermediate_groups_plist(where);
  H5Id ds = h5_dataset(
      ATTNCAMP_H5_CHECK(H5Dcreate2(loc, name.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                        where, ": cannot create"));
  ds.close(where);
}

void write_vlen_bytes_rows(hid_t loc, const std::string& name, int64_t start,
                           const std::vector<std::vector<uint8_t>>& rows) {
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  Shape shape;
  auto [ds, space] = select_rows(loc, name, start, static_cast<int64_t>(rows.size()), where, &shape);
  if (rows.empty()) return;
  std::vector<hvl_t> buf(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    buf[i].len = rows[i].size();
    buf[i].p = const_cast<uint8_t*>(rows[i].data());
  }
  H5Id type = vlen_u8_type(where);
  H5Id mem = simple_space({static_cast<int64_t>(rows.size())}, where);
  ATTNCAMP_H5_CHECK(H5Dwrite(ds.get(), type.get(), mem.get(), space.get(), H5P_DEFAULT, buf.data()), where,
                    ": cannot write rows");
}

std::vector<std::vector<uint8_t>> read_vlen_bytes_rows(hid_t loc, const std::string& name, int64_t start, int64_t end) {
  const std::string where = file_name_of(loc) + ": dataset " + display(name);
  if (end < start) ATTNCAMP_THROW(where, ": rows [", start, ", ", end, ") are empty or reversed");
  Shape shape;
  auto [ds, space] = select_rows(loc, name, start, end - start, where, &shape);
  H5Id ftype = h5_type(ATTNCAMP_H5_CHECK(H5Dget_type(ds.get()), where, ": cannot read the type"));
  if (H5Tget_class(ftype.get()) != H5T_VLEN || shape.size() != 1) {
    ATTNCAMP_THROW(where, " has dtype ", type_name(ftype.get()), " and shape ", shape_str(shape),
                   ", expected a 1-D variable-length uint8 dataset");
  }
  std::vector<std::vector<uint8_t>> out(static_cast<size_t>(end - start));
  if (out.empty()) return out;
  H5Id type = vlen_u8_type(where);
  H5Id mem = simple_space({end - start}, where);
  std::vector<hvl_t> buf(out.size());
  ATTNCAMP_H5_CHECK(H5Dread(ds.get(), type.get(), mem.get(), space.get(), H5P_DEFAULT, buf.data()), where,
                    ": cannot read rows (truncated or corrupt file?)");
  for (size_t i = 0; i < out.size(); ++i) {
    const auto* p = static_cast<const uint8_t*>(buf[i].p);
    out[i].assign(p, p + buf[i].len);
  }
  H5Dvlen_reclaim(type.get(), mem.get(), H5P_DEFAULT, buf.data());  // H5Treclaim from HDF5 1.12 on
  return out;
}

}  // namespace attncamp::data
