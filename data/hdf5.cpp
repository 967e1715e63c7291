// HDF5 helpers, core: the owning id, one-line error details, library init, file open/create and
// atomic writes (temporary file, fsync, rename), and the dtype <-> HDF5 type mapping the other
// hdf5_*.cpp files share: element types are stored little-endian standard, read through native.
#include "data/hdf5.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "data/hdf5_internal.h"
#include "runtime/env.h"

namespace attncamp::data {

namespace hdf5_detail {

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

H5Id vlen_string_type(const std::string& where) {
  H5Id t = h5_type(ATTNCAMP_H5_CHECK(H5Tcopy(H5T_C_S1), where, ": cannot create string type"));
  ATTNCAMP_H5_CHECK(H5Tset_size(t.get(), H5T_VARIABLE), where, ": cannot create string type");
  ATTNCAMP_H5_CHECK(H5Tset_cset(t.get(), H5T_CSET_UTF8), where, ": cannot create string type");
  return t;
}

}  // namespace hdf5_detail

namespace {

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

// Why writes are arranged as below: HDF5 1.10 cannot recover from a failed write in a metadata
// flush. After a failed H5Fflush the file's metadata cache stays in mid-flush, so every later close
// fails; a failed H5Fclose frees the file but keeps its id, and at exit H5_term_library closes that
// id again and crashes (SIGSEGV after our error was printed). So HDF5 must never meet a full disk
// while it flushes or closes: before the flush, the file's whole allocated size is reserved on disk
// (fallocate) and a full disk fails there; after any failure, the file is closed with its
// descriptor pointed at an anonymous in-memory file (detach_from_disk).

// The descriptor of a file opened with the sec2 driver (create_file), or -1.
int sec2_descriptor(hid_t file) {
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || handle == nullptr) return -1;
  return *static_cast<int*>(handle);
}

// Reserves the disk space of everything HDF5 has allocated in `file` (the metadata it has yet to
// write lies inside), then flushes and fsyncs, so that a full disk or a late write error fails in
// fallocate or fsync, never inside HDF5's flush or close.
void reserve_flush_and_sync(hid_t file, const std::string& path) {
  const int fd = sec2_descriptor(file);
  if (fd < 0) ATTNCAMP_THROW(path, ": cannot get the file descriptor (H5Fget_vfd_handle failed)");
  hsize_t size = 0;
  ATTNCAMP_H5_CHECK(H5Fget_filesize(file, &size), path, ": cannot get the file size");
  // Linux's fallocate, not posix_fallocate: where a filesystem cannot reserve space (EOPNOTSUPP),
  // glibc's emulation would write a byte into every 4 KiB of a file of any size; the flush goes
  // ahead unreserved there instead.
  if (::fallocate(fd, 0, 0, static_cast<off_t>(size)) != 0 && errno != EOPNOTSUPP) {
    ATTNCAMP_THROW(path, ": cannot write ", size, " bytes: ", std::strerror(errno));
  }
  ATTNCAMP_H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL), path, ": cannot flush");
  if (::fsync(fd) != 0) ATTNCAMP_THROW(path, ": fsync failed: ", std::strerror(errno));
}

// Points the descriptor of `file` at an anonymous in-memory file, so that whatever HDF5 still
// writes (closing flushes its metadata) lands there and succeeds, and the disk file is out of its
// reach (the caller removes it). False when that was not possible.
bool detach_from_disk(hid_t file) noexcept {
  const int fd = sec2_descriptor(file);
  if (fd < 0) return false;
  const int sink = ::memfd_create("attncamp-discarded-hdf5", MFD_CLOEXEC);
  if (sink < 0) return false;
  const bool moved = ::dup2(sink, fd) == fd;
  ::close(sink);
  return moved;
}

// The test hook env::kTestFileSizeLimit: while alive (or until lift()), no file may grow past the
// given size and writes past it fail with EFBIG instead of raising SIGXFSZ; restores both.
class TestFileSizeLimit {
 public:
  TestFileSizeLimit() {
    const char* value = std::getenv(env::kTestFileSizeLimit);
    if (value == nullptr || *value == '\0') return;
    char* end = nullptr;
    errno = 0;
    const unsigned long long bytes = std::strtoull(value, &end, 10);
    ATTNCAMP_CHECK(*end == '\0' && errno == 0 && value[0] != '-', env::kTestFileSizeLimit,
                   " must be a byte count, got '", value, "'");
    ATTNCAMP_CHECK(::getrlimit(RLIMIT_FSIZE, &old_) == 0, "getrlimit(RLIMIT_FSIZE): ", std::strerror(errno));
    rlimit limit = old_;
    limit.rlim_cur = std::min<rlim_t>(bytes, old_.rlim_max);
    ATTNCAMP_CHECK(::setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit(RLIMIT_FSIZE): ", std::strerror(errno));
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    active_ = true;
  }
  ~TestFileSizeLimit() { lift(); }
  void lift() noexcept {
    if (!active_) return;
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
    active_ = false;
  }
  TestFileSizeLimit(const TestFileSizeLimit&) = delete;
  TestFileSizeLimit& operator=(const TestFileSizeLimit&) = delete;

 private:
  rlimit old_{};
  void (*old_handler_)(int) = SIG_DFL;
  bool active_ = false;
};

// Creates `path`, fills it, flushes and closes it. On failure the file is detached from the disk
// before it is closed (a full disk stays full), and the error is rethrown.
void write_new_file(const std::string& path, const std::function<void(hid_t file)>& fill) {
  TestFileSizeLimit disk_limit;
  H5Id file;
  try {
    file = create_file(path);
    fill(file.get());
    reserve_flush_and_sync(file.get(), path);
  } catch (...) {
    // The hook's limit stands for the disk; once detached, the file is in memory.
    if (file.valid() && detach_from_disk(file.get())) disk_limit.lift();
    file.reset();
    throw;
  }
  file.close(path);
}

}  // namespace

std::string h5_error_detail(const char* call) {
  std::string detail;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, deepest_error, &detail);
  for (char& c : detail) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  // A failed read or write also names the file, descriptor, buffer and sizes: keep its reason only,
  // "file write failed: No space left on device".
  const std::string reason = "error message = '";
  const size_t at = detail.find(reason);
  if (at != std::string::npos) {
    const size_t from = at + reason.size();
    detail = detail.substr(0, detail.find(':')) + ": " + detail.substr(from, detail.find('\'', from) - from);
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
  if (closer_(id) >= 0) return;
  const char* call = closer_ == H5Fclose   ? "H5Fclose"
                     : closer_ == H5Dclose ? "H5Dclose"
                     : closer_ == H5Gclose ? "H5Gclose"
                     : closer_ == H5Aclose ? "H5Aclose"
                                           : "H5?close";
  ATTNCAMP_THROW(what, ": close failed (", h5_error_detail(call), ")");
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

// --- Files -------------------------------------------------------------------------------------

H5Id create_file(const std::string& path) {
  hdf5_init();
  // Strong close: when the file id is closed the OS file is closed too, so it can be fsync'd.
  H5Id fapl = h5_plist(ATTNCAMP_H5_CHECK(H5Pcreate(H5P_FILE_ACCESS), path, ": cannot create property list"));
  ATTNCAMP_H5_CHECK(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), path, ": cannot set close degree");
  // The POSIX driver, whose descriptor close_after_failed_write redirects.
  ATTNCAMP_H5_CHECK(H5Pset_fapl_sec2(fapl.get()), path, ": cannot select the sec2 driver");
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
    write_new_file(tmp, fill);
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

}  // namespace attncamp::data
