// HDF5 helpers, attributes: scalar integer, float and string attributes (writers replace an old
// one, readers check its kind), 1-D float64 array attributes and the attncamp_schema check.
// Messages name the file and the attribute in quotes.
#include <cstring>
#include <initializer_list>

#include "data/hdf5.h"
#include "data/hdf5_internal.h"

namespace attncamp::data {

using hdf5_detail::simple_space;
using hdf5_detail::space_shape;
using hdf5_detail::type_name;
using hdf5_detail::vlen_string_type;

namespace {

herr_t collect_attr_name(hid_t, const char* name, const H5A_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

}  // namespace

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
