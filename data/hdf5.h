// Thin RAII layer over the HDF5 C API: an owning id class, file open/create, tensors as
// datasets (whole or by row range), scalar attributes, variable-length string datasets and
// atomic file writes. Every HDF5 call is checked; failures throw attncamp::Error with one
// line naming the file and the dataset or attribute (HDF5's own stack printing is disabled).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/tensor.h"

namespace attncamp::data {

// "H5Fopen failed: <most specific message on HDF5's error stack>" for a failed `call` (the
// call's source text; only the function name is kept), for appending to our messages.
std::string h5_error_detail(const char* call);

}  // namespace attncamp::data

// Runs an HDF5 call; a negative result (herr_t or hid_t) throws attncamp::Error whose message
// is the streamed context, then the call and HDF5's own reason. Evaluates to the result.
#define ATTNCAMP_H5_CHECK(call, ...)                                                    \
  ([&]() {                                                                              \
    const auto h5_result_ = (call);                                                     \
    if (h5_result_ < 0) {                                                               \
      ATTNCAMP_THROW(__VA_ARGS__, " (", ::attncamp::data::h5_error_detail(#call), ")"); \
    }                                                                                   \
    return h5_result_;                                                                  \
  }())

namespace attncamp::data {

// Initialises the HDF5 library once per process and turns off its automatic error printing,
// so users see only our one-line errors. Called by every function here that opens a file.
void hdf5_init();

// Owns one HDF5 identifier and releases it with the matching H5?close function.
// Non-copyable, movable; the destructor closes quietly and never throws.
class H5Id {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Id() = default;
  H5Id(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~H5Id() { reset(); }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  H5Id(H5Id&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  H5Id& operator=(H5Id&& o) noexcept;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now, ignoring failures (used by the destructor and on error paths).
  void reset() noexcept;
  // Closes now and throws if the close fails (for files: surfaces buffered-write errors).
  void close(const std::string& what);

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Typed wrappers so that call sites say what they own.
inline H5Id h5_file(hid_t id) { return H5Id(id, H5Fclose); }
inline H5Id h5_group(hid_t id) { return H5Id(id, H5Gclose); }
inline H5Id h5_dataset(hid_t id) { return H5Id(id, H5Dclose); }
inline H5Id h5_space(hid_t id) { return H5Id(id, H5Sclose); }
inline H5Id h5_type(hid_t id) { return H5Id(id, H5Tclose); }
inline H5Id h5_attr(hid_t id) { return H5Id(id, H5Aclose); }
inline H5Id h5_plist(hid_t id) { return H5Id(id, H5Pclose); }

// --- Files -------------------------------------------------------------------------------------

// Creates (truncating) an HDF5 file for writing. Throws "PATH: cannot create HDF5 file (...)".
H5Id create_file(const std::string& path);
// Opens an existing HDF5 file; an invalid H5Id when it is missing, unreadable or not HDF5.
H5Id try_open_file(const std::string& path, bool writable = false);
// As try_open_file, but throws
// "PATH: cannot open as HDF5 (missing, unreadable or not an HDF5 file)".
H5Id open_file(const std::string& path, bool writable = false);
// Name of the file holding object `id` (for error messages); "<unknown file>" if none.
std::string file_name_of(hid_t id);

// Writes an HDF5 file atomically: `fill` receives a new file "<path>.tmp-<pid>"; afterwards the
// file's space is reserved (fallocate) and it is flushed, fsync'd, closed and renamed over
// `path`, and the folder is fsync'd. If `fill` or any later step throws (a full disk included),
// the temporary file is removed and the error rethrown; a previous file at `path` is left
// untouched, and HDF5 is left with no broken file id (so the process still exits cleanly).
void write_file_atomically(const std::string& path, const std::function<void(hid_t file)>& fill);

// --- Datasets ----------------------------------------------------------------------------------

// Dataset paths are relative to `loc` ("labels" or "/labels"; '/' separates groups). Messages
// show them with a leading '/'.

// True when `name` exists below `loc` (every intermediate group must exist too).
bool link_exists(hid_t loc, const std::string& name);
// Opens dataset `name`; throws "FILE: dataset /name not found" when absent.
H5Id open_dataset(hid_t loc, const std::string& name);
// Shape of a dataset ([] for a scalar).
Shape dataset_shape(hid_t loc, const std::string& name);
// Human-readable element type of a dataset: "float32", "int32", "uint8", "variable-length
// uint8", "string", ... (the names numpy/h5py users know).
std::string dataset_type_name(hid_t loc, const std::string& name);

// Writes a contiguous CPU tensor (f32, f64, i32, i64 or u8) as a contiguous dataset with the
// tensor's shape. Intermediate groups in `name` are created. bf16/f16 are rejected (h5py has no
// such type); convert them to f32 first.
void write_tensor(hid_t loc, const std::string& name, const Tensor& t);
// Reads a whole dataset into a new CPU tensor of the matching dtype (f32/f64/i32/i64/u8).
Tensor read_tensor(hid_t loc, const std::string& name);
// As read_tensor, but throws "FILE: dataset /name has dtype float32, expected int32" or
// "... has rank 3 (shape [..]), expected rank 1" on mismatch; `rank` < 0 accepts any rank.
Tensor read_tensor(hid_t loc, const std::string& name, DType dtype, int rank);
// Reads rows [start, end) along dimension 0 (a hyperslab) into a tensor of shape
// [end - start, dims[1:]...]; checks the dtype like read_tensor.
Tensor read_rows(hid_t loc, const std::string& name, int64_t start, int64_t end, DType dtype);

// Streaming writes for converters that do not hold a whole dataset in memory: create a
// contiguous dataset of its final shape, then write row ranges into it.
void create_dataset(hid_t loc, const std::string& name, DType dtype, const Shape& shape);
// Writes `rows` (a contiguous CPU tensor [k, dims[1:]...] of the dataset's dtype) at rows
// [start, start + k) of an existing dataset.
void write_rows(hid_t loc, const std::string& name, int64_t start, const Tensor& rows);

// Variable-length uint8 sequences, one per row (JPEG bytes; h5py: h5py.vlen_dtype(np.uint8),
// each row reads as a uint8 array). create_vlen_bytes makes a 1-D dataset of n empty rows;
// write_vlen_bytes_rows fills rows [start, start + rows.size()); read_vlen_bytes_rows reads
// rows [start, end) (a hyperslab: only those rows' bytes are read).
void create_vlen_bytes(hid_t loc, const std::string& name, int64_t n);
void write_vlen_bytes_rows(hid_t loc, const std::string& name, int64_t start,
                           const std::vector<std::vector<uint8_t>>& rows);
std::vector<std::vector<uint8_t>> read_vlen_bytes_rows(hid_t loc, const std::string& name, int64_t start, int64_t end);

// Writes a 1-D dataset of variable-length UTF-8 strings (h5py reads them as str).
void write_string_dataset(hid_t loc, const std::string& name, const std::vector<std::string>& values);
// Reads a 1-D dataset of strings (variable- or fixed-length).
std::vector<std::string> read_string_dataset(hid_t loc, const std::string& name);

// "float32", "int64", ... for a tensor dtype.
const char* numpy_dtype_name(DType dtype);

// --- Scalar attributes ---------------------------------------------------------------------------

// Kind of a scalar attribute's value.
enum class AttrKind { kInt, kFloat, kString, kOther };

bool has_attr(hid_t obj, const std::string& name);
// Names of all attributes of `obj`, sorted by name.
std::vector<std::string> attr_names(hid_t obj);
AttrKind attr_kind(hid_t obj, const std::string& name);
// Writers replace an existing attribute of the same name.
void write_attr_int(hid_t obj, const std::string& name, int64_t value);
void write_attr_double(hid_t obj, const std::string& name, double value);
// Variable-length UTF-8 string scalar.
void write_attr_string(hid_t obj, const std::string& name, const std::string& value);
// Readers throw "FILE: attribute 'name' not found" or "... is a string, expected an integer".
int64_t read_attr_int(hid_t obj, const std::string& name);
double read_attr_double(hid_t obj, const std::string& name);
std::string read_attr_string(hid_t obj, const std::string& name);
// Checks the root attribute attncamp_schema of `file` (opened from `path`) is `expected`; throws
// "PATH: root attribute attncamp_schema not found (expected \"X\")" or
// "PATH: attncamp_schema is \"Y\", expected \"X\"".
void check_schema(hid_t file, const std::string& path, const std::string& expected);
// 1-D float64 array attributes (e.g. band_hz = [8, 30]); h5py reads a numpy array.
void write_attr_doubles(hid_t obj, const std::string& name, const std::vector<double>& values);
std::vector<double> read_attr_doubles(hid_t obj, const std::string& name);

}  // namespace attncamp::data
