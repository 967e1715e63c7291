// IDX reading through zlib's gzFile, which decompresses .gz files and passes plain files
// through unchanged. The header is parsed byte by byte, so host endianness does not matter.
#include "data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace attncamp::data {

namespace {

constexpr int kIdxUint8 = 0x08;
constexpr int64_t kMaxIdxBytes = int64_t{1} << 40;  // sanity bound against corrupt headers

// Owns a gzFile; closes it without throwing.
class GzFile {
 public:
  explicit GzFile(gzFile f) : f_(f) {}
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  gzFile get() const { return f_; }

 private:
  gzFile f_;
};

// Reads up to `n` bytes; returns the number read. Throws on a decompression error.
int64_t read_bytes(gzFile f, void* dst, int64_t n, const std::string& path) {
  int64_t done = 0;
  auto* p = static_cast<unsigned char*>(dst);
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - done, int64_t{1} << 30));
    const int got = gzread(f, p + done, chunk);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      ATTNCAMP_THROW(path, ": cannot read IDX data (", msg ? msg : "zlib error", ")");
    }
    if (got == 0) break;
    done += got;
  }
  return done;
}

}  // namespace

Tensor read_idx(const std::string& path) {
  errno = 0;
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f.get()) ATTNCAMP_THROW(path, ": cannot open IDX file (", errno ? std::strerror(errno) : "zlib error", ")");

  unsigned char magic[4];
  if (read_bytes(f.get(), magic, 4, path) != 4) ATTNCAMP_THROW(path, ": truncated IDX file (no 4-byte header)");
  if (magic[0] != 0 || magic[1] != 0 || magic[3] == 0) {
    ATTNCAMP_THROW(path, ": bad IDX magic number 0x", std::hex,
                   int(magic[0]) * 0x1000000 + int(magic[1]) * 0x10000 + int(magic[2]) * 0x100 + int(magic[3]),
                   " (expected 0x0000TTRR: type, rank)");
  }
  if (magic[2] != kIdxUint8) {
    ATTNCAMP_THROW(path, ": IDX element type 0x", std::hex, int(magic[2]), " is not supported (only 0x08, uint8)");
  }
  const int rank = magic[3];
  Shape shape(static_cast<size_t>(rank));
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) {
    unsigned char b[4];
    if (read_bytes(f.get(), b, 4, path) != 4) ATTNCAMP_THROW(path, ": truncated IDX header (dimension ", d, ")");
    shape[static_cast<size_t>(d)] =
        (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | int64_t{b[3]};
    total *= std::max<int64_t>(shape[static_cast<size_t>(d)], 1);
    if (total > kMaxIdxBytes) ATTNCAMP_THROW(path, ": IDX dimensions ", shape_str(shape), "... are implausibly large");
  }
  Tensor t = Tensor::empty(shape, DType::kU8);
  const int64_t n = t.numel();
  const int64_t got = n > 0 ? read_bytes(f.get(), t.raw_data(), n, path) : 0;
  if (got != n) {
    ATTNCAMP_THROW(path, ": truncated IDX file: header says ", shape_str(shape), " (", n, " bytes) but only ", got,
                   " bytes follow");
  }
  unsigned char extra;
  if (read_bytes(f.get(), &extra, 1, path) != 0) {
    ATTNCAMP_THROW(path, ": IDX file has bytes after the ", shape_str(shape), " data (wrong header?)");
  }
  return t;
}

}  // namespace attncamp::data
