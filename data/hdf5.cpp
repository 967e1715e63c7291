// Implementation of the HDF5 helpers: files, tensor datasets, string datasets, attributes and
// atomic writes. Element types are stored little-endian standard types and read back through
// the native types, so files move between machines; messages name the file via H5Fget_name.
#include "data/hdf5.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace attncamp::data {

namespace {

// Shows a dataset or attribute path with exactly one leading '/'.
std::string display(const std::string& name) { return name.empty() || name[0] != '/' ? "/" + name : name; }

hid_t mem_type(DType dtype) {
  switch (dtype) {
    case DType::kF32: return H5T_NATIVE_FLOAT;
    case DType::kF64: return H5T_NATIVE_DOUBLE;
    case DType::kI32: return H5T_NATIVE_INT32;
    case DType::kI64: return H5T_NATIVE_INT64;
    case DType::kU8: return H5T_NATIVE_UINT8;
    default: return H5I_INVALID_HID;
  }
}

hid_t file_type(DType dtype) {
  switch (dtype) {
    case DType::kF32: return H5T_IEEE_F32LE;
    case DType::kF64: return H5T_IEEE_F64LE;
    case DType::kI32: return H5T_STD_I32LE;
    case DType::kI64: return H5T_STD_I64LE;
    case DType::kU8: return H5T_STD_U8LE;
    default: return H5I_INVALID_HID;
  }
}

// Name of an HDF5 type as numpy would call it.
std::string type_name(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t bits = H5Tget_size(type) * 8;
  switch (cls) {
    case H5T_INTEGER: return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    case H5T_FLOAT: return "float" + std::to_string(bits);
    case H5T_STRING: return "string";
    case H5T_VLEN: {
      H5Id base = h5_type(H5Tget_super(type));
      return "variable-length " + (base.valid() ? type_name(base.get()) : std::string("?"));
    }
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    case H5T_OPAQUE: return "opaque";
    case H5T_REFERENCE: return "reference";
    default: return "unknown type";
  }
}

// DType matching an HDF5 type, or false when there is none.
bool dtype_of(hid_t type, DType* out) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT && size == 4)
    *out = DType::kF32;
  else if (cls == H5T_FLOAT && size == 8)
    *out = DType::kF64;
  else if (cls == H5T_INTEGER && size == 4 && H5Tget_sign(type) == H5T_SGN_2)
    *out = DType::kI32;
  else if (cls == H5T_INTEGER && size == 8 && H5Tget_sign(type) == H5T_SGN_2)
    *out = DType::kI64;
  else if (cls == H5T_INTEGER && size == 1 && H5Tget_sign(type) == H5T_SGN_NONE)
    *out = DType::kU8;
  else
    return false;
  return true;
}

Shape space_shape(hid_t space, const std::string& where) {
  const int rank = ATTNCAMP_H5_CHECK(H5Sget_simple_extent_ndims(space), where, ": cannot read the shape");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0)
    ATTNCAMP_H5_CHECK(H5Sget_simple_extent_dims(space, dims.data(), nullptr), where, ": cannot read the shape");
  return Shape(dims.begin(), dims.end());
}

H5Id simple_space(const Shape& shape, const std::string& where) {
  if (shape.empty()) return h5_space(ATTNCAMP_H5_CHECK(H5Screate(H5S_SCALAR), where, ": cannot create dataspace"));
  const std::vector<hsize_t> dims(shape.begin(), shape.end());
  return h5_space(ATTNCAMP_H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), where,
                                    ": cannot create dataspace"));
}

// Variable-length UTF-8 string type.
H5Id vlen_string_type(const std::string& where) {
  H5Id t = h5_type(ATTNCAMP_H5_CHECK(H5Tcopy(H5T_C_S1), where, ": cannot create string type"));
  ATTNCAMP_H5_CHECK(H5Tset_size(t.get(), H5T_VARIABLE), where, ": cannot create string type");
  ATTNCAMP_H5_CHECK(H5Tset_cset(t.get(), H5T_CSET_UTF8), where, ": cannot create string type");
  return t;
}

// Link-creation properties that create missing intermediate groups ("a/b/c").
H5Id intermediate_groups_plist(const std::string& where) {
  H5Id p = h5_plist(ATTNCAMP_H5_CHECK(H5Pcreate(H5P_LINK_CREATE), where, ": cannot create property list"));
  ATTNCAMP_H5_CHECK(H5Pset_create_intermediate_group(p.get(), 1), where, ": cannot create property list");
  return p;
}

herr_t collect_attr_name(hid_t, const char* name, const H5A_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

herr_t deepest_error(unsigned, const H5E_error2_t* e, void* out) {
  if (e->desc && *e->desc) *static_cast<std::string*>(out) = e->desc;
  return 0;
}

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) ATTNCAMP_THROW(path, ": cannot open for fsync: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some filesystems cannot fsync a directory (EINVAL); the rename is still done.
  if (rc != 0 && !(directory && err == EINVAL)) ATTNCAMP_THROW(path, ": fsync failed: ", std::strerror(err));
}

}  // namespace

std::string h5_error_detail(const char* call) {
  std::string detail;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, deepest_error, &detail);
  for (char& c : detail) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (detail.size() > 200) detail = detail.substr(0, 200) + "...";
  std::string name = call;
  name = name.substr(0, name.find('('));
  return detail.empty() ? name + " failed" : name + " failed: " + detail;
}

void hdf5_init() {
  static const bool done = [] {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

H5Id& H5Id::operator=(H5Id&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void H5Id::reset() noexcept {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = H5I_INVALID_HID;
}

void H5Id::close(const std::string& what) {
  if (id_ < 0) return;
  const hid_t id = id_;
  id_ = H5I_INVALID_HID;
  ATTNCAMP_H5_CHECK(closer_(id), what, ": close failed");
}

// --- Files -------------------------------------------------------------------------------------

H5Id create_file(const std::string& path) {
  hdf5_init();
  // Strong close: when the file id is closed the OS file is closed too, so it can be fsync'd.
  H5Id fapl = h5_plist(ATTNCAMP_H5_CHECK(H5Pcreate(H5P_FILE_ACCESS), path, ": cannot create property list"));
  ATTNCAMP_H5_CHECK(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), path, ": cannot set close degree");
  return h5_file(ATTNCAMP_H5_CHECK(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), path,
                                   ": cannot create HDF5 file"));
}

H5Id try_open_file(const std::string& path, bool writable) {
  hdf5_init();
  const hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  return id < 0 ? H5Id() : h5_file(id);
}

H5Id open_file(const std::string& path, bool writable) {
  H5Id f = try_open_file(path, writable);
  if (!f.valid()) ATTNCAMP_THROW(path, ": cannot open as HDF5 (missing, unreadable or not an HDF5 file)");
  return f;
}

std::string file_name_of(hid_t id) {
  const ssize_t n = H5Fget_name(id, nullptr, 0);
  if (n <= 0) return "<unknown file>";
  std::string s(static_cast<size_t>(n) + 1, '\0');
  H5Fget_name(id, s.data(), s.size());
  s.resize(static_cast<size_t>(n));
  return s;
}

void write_file_atomically(const std::string& path, const std::function<void(hid_t file)>& fill) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  try {
    {
      H5Id file = create_file(tmp);
      fill(file.get());
      ATTNCAMP_H5_CHECK(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), tmp, ": cannot flush");
      file.close(tmp);
    }
    fsync_path(tmp, false);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      ATTNCAMP_THROW(path, ": cannot rename ", tmp, " into place: ", std::strerror(errno));
    }
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  fsync_path(dir.empty() ? "." : dir, true);
}

// --- Datasets ----------------------------------------------------------------------------------

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

const char* numpy_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "float32";
    case DType::kF64: return "float64";
    case DType::kBF16: return "bfloat16";
    case DType::kF16: return "float16";
    case DType::kI32: return "int32";
    case DType::kI64: return "int64";
    case DType::kU8: return "uint8";
  }
  return "?";
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

// --- Attributes ----------------------------------------------------------------------------------

bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

std::vector<std::string> attr_names(hid_t obj) {
  std::vector<std::string> names;
  ATTNCAMP_H5_CHECK(H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_attr_name, &names), file_name_of(obj),
                    ": cannot list attributes");
  return names;
}

namespace {

H5Id open_attr(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) ATTNCAMP_THROW(file_name_of(obj), ": attribute '", name, "' not found");
  return h5_attr(ATTNCAMP_H5_CHECK(H5Aopen(obj, name.c_str(), H5P_DEFAULT), file_name_of(obj),
                                   ": cannot open attribute '", name, "'"));
}

// Creates attribute `name` (replacing an old one) with a scalar dataspace.
H5Id create_scalar_attr(hid_t obj, const std::string& name, hid_t type) {
  const std::string where = file_name_of(obj) + ": attribute '" + name + "'";
  if (has_attr(obj, name)) ATTNCAMP_H5_CHECK(H5Adelete(obj, name.c_str()), where, ": cannot replace");
  H5Id space = h5_space(ATTNCAMP_H5_CHECK(H5Screate(H5S_SCALAR), where, ": cannot create dataspace"));
  return h5_attr(ATTNCAMP_H5_CHECK(H5Acreate2(obj, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT), where,
                                   ": cannot create"));
}

// Opens a one-element attribute and checks that its class is one of `ok`.
H5Id open_scalar_attr(hid_t obj, const std::string& name, H5Id* type, std::initializer_list<H5T_class_t> ok,
                      const char* expected) {
  const std::string where = file_name_of(obj) + ": attribute '" + name + "'";
  H5Id attr = open_attr(obj, name);
  *type = h5_type(ATTNCAMP_H5_CHECK(H5Aget_type(attr.get()), where, ": cannot read the type"));
  bool good = false;
  for (H5T_class_t c : ok) good = good || H5Tget_class(type->get()) == c;
  if (!good) ATTNCAMP_THROW(where, " is ", type_name(type->get()), ", expected ", expected);
  H5Id space = h5_space(ATTNCAMP_H5_CHECK(H5Aget_space(attr.get()), where, ": cannot read the dataspace"));
  if (H5Sget_simple_extent_npoints(space.get()) != 1) ATTNCAMP_THROW(where, " is not a single value");
  return attr;
}

}  // namespace

AttrKind attr_kind(hid_t obj, const std::string& name) {
  H5Id attr = open_attr(obj, name);
  H5Id type = h5_type(
      ATTNCAMP_H5_CHECK(H5Aget_type(attr.get()), file_name_of(obj), ": attribute '", name, "': cannot read the type"));
  H5Id space = h5_space(ATTNCAMP_H5_CHECK(H5Aget_space(attr.get()), file_name_of(obj), ": attribute '", name,
                                          "': cannot read the dataspace"));
  if (H5Sget_simple_extent_npoints(space.get()) != 1) return AttrKind::kOther;
  switch (H5Tget_class(type.get())) {
    case H5T_INTEGER: return AttrKind::kInt;
    case H5T_FLOAT: return AttrKind::kFloat;
    case H5T_STRING: return AttrKind::kString;
    default: return AttrKind::kOther;
  }
}

void write_attr_int(hid_t obj, const std::string& name, int64_t value) {
  H5Id attr = create_scalar_attr(obj, name, H5T_STD_I64LE);
  ATTNCAMP_H5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), file_name_of(obj), ": attribute '", name,
                    "': cannot write");
}

void write_attr_double(hid_t obj, const std::string& name, double value) {
  H5Id attr = create_scalar_attr(obj, name, H5T_IEEE_F64LE);
  ATTNCAMP_H5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value), file_name_of(obj), ": attribute '", name,
                    "': cannot write");
}

void write_attr_string(hid_t obj, const std::string& name, const std::string& value) {
  const std::string where = file_name_of(obj) + ": attribute '" + name + "'";
  H5Id type = vlen_string_type(where);
  H5Id attr = create_scalar_attr(obj, name, type.get());
  const char* p = value.c_str();
  ATTNCAMP_H5_CHECK(H5Awrite(attr.get(), type.get(), &p), where, ": cannot write");
}

int64_t read_attr_int(hid_t obj, const std::string& name) {
  H5Id type;
  H5Id attr = open_scalar_attr(obj, name, &type, {H5T_INTEGER}, "an integer");
  int64_t v = 0;
  ATTNCAMP_H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), file_name_of(obj), ": attribute '", name,
                    "': cannot read");
  return v;
}

double read_attr_double(hid_t obj, const std::string& name) {
  H5Id type;
  H5Id attr = open_scalar_attr(obj, name, &type, {H5T_FLOAT, H5T_INTEGER}, "a number");
  double v = 0;
  ATTNCAMP_H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &v), file_name_of(obj), ": attribute '", name,
                    "': cannot read");
  return v;
}

std::string read_attr_string(hid_t obj, const std::string& name) {
  const std::string where = file_name_of(obj) + ": attribute '" + name + "'";
  H5Id type;
  H5Id attr = open_scalar_attr(obj, name, &type, {H5T_STRING}, "a string");
  if (ATTNCAMP_H5_CHECK(H5Tis_variable_str(type.get()), where, ": cannot inspect the string type") > 0) {
    H5Id mtype = vlen_string_type(where);
    char* p = nullptr;
    ATTNCAMP_H5_CHECK(H5Aread(attr.get(), mtype.get(), &p), where, ": cannot read");
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  const size_t size = H5Tget_size(type.get());
  std::vector<char> buf(size + 1, '\0');
  ATTNCAMP_H5_CHECK(H5Aread(attr.get(), type.get(), buf.data()), where, ": cannot read");
  return std::string(buf.data(), strnlen(buf.data(), size));
}

void check_schema(hid_t file, const std::string& path, const std::string& expected) {
  if (!has_attr(file, "attncamp_schema")) {
    ATTNCAMP_THROW(path, ": root attribute attncamp_schema not found (expected \"", expected, "\")");
  }
  const std::string schema = read_attr_string(file, "attncamp_schema");
  if (schema != expected) ATTNCAMP_THROW(path, ": attncamp_schema is \"", schema, "\", expected \"", expected, "\"");
}

// --- Streaming row writes, variable-length bytes, array attributes -------------------------------

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

void write_attr_doubles(hid_t obj, const std::string& name, const std::vector<double>& values) {
  const std::string where = file_name_of(obj) + ": attribute '" + name + "'";
  if (has_attr(obj, name)) ATTNCAMP_H5_CHECK(H5Adelete(obj, name.c_str()), where, ": cannot replace");
  H5Id space = simple_space({static_cast<int64_t>(values.size())}, where);
  H5Id a = h5_attr(ATTNCAMP_H5_CHECK(
      H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), where, ": cannot create"));
  if (!values.empty()) {
    ATTNCAMP_H5_CHECK(H5Awrite(a.get(), H5T_NATIVE_DOUBLE, values.data()), where, ": cannot write");
  }
}

std::vector<double> read_attr_doubles(hid_t obj, const std::string& name) {
  const std::string where = file_name_of(obj) + ": attribute '" + name + "'";
  if (!has_attr(obj, name)) ATTNCAMP_THROW(where, " not found");
  H5Id a = h5_attr(ATTNCAMP_H5_CHECK(H5Aopen(obj, name.c_str(), H5P_DEFAULT), where, ": cannot open"));
  H5Id type = h5_type(ATTNCAMP_H5_CHECK(H5Aget_type(a.get()), where, ": cannot read the type"));
  if (H5Tget_class(type.get()) != H5T_FLOAT && H5Tget_class(type.get()) != H5T_INTEGER) {
    ATTNCAMP_THROW(where, " is ", type_name(type.get()), ", expected numbers");
  }
  H5Id space = h5_space(ATTNCAMP_H5_CHECK(H5Aget_space(a.get()), where, ": cannot read the dataspace"));
  const Shape shape = space_shape(space.get(), where);
  const int64_t n = shape.empty() ? 1 : shape_numel(shape);
  std::vector<double> out(static_cast<size_t>(n));
  if (n > 0) ATTNCAMP_H5_CHECK(H5Aread(a.get(), H5T_NATIVE_DOUBLE, out.data()), where, ": cannot read");
  return out;
}

}  // namespace attncamp::data
