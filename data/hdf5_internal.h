// Helpers shared by the HDF5 implementation files (hdf5.cpp, hdf5_dataset.cpp, hdf5_attr.cpp):
// the mapping between tensor dtypes and HDF5 types, type names for messages, dataspaces and the
// UTF-8 string type. Internal to data/; the public API is data/hdf5.h.
#pragma once

#include <string>

#include "data/hdf5.h"

namespace attncamp::data::hdf5_detail {

// HDF5 type of a tensor dtype in memory (native) and in files (little-endian standard);
// H5I_INVALID_HID for dtypes that cannot be stored (bf16, f16).
hid_t mem_type(DType dtype);
hid_t file_type(DType dtype);
// Name of an HDF5 type as numpy would call it ("float32", "variable-length uint8", ...).
std::string type_name(hid_t type);
// DType matching an HDF5 type, or false when there is none.
bool dtype_of(hid_t type, DType* out);

// Shape of a dataspace ([] for a scalar). `where` starts the error messages.
Shape space_shape(hid_t space, const std::string& where);
// A scalar dataspace for shape [], else a simple one of `shape`.
H5Id simple_space(const Shape& shape, const std::string& where);
// Variable-length UTF-8 string type.
H5Id vlen_string_type(const std::string& where);

}  // namespace attncamp::data::hdf5_detail
