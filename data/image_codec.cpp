// Image codecs for the converters and the input pipeline: JPEG through TurboJPEG (one
// decompressor/compressor per thread), PNG through libpng's simplified API, and a separable
// resize that reproduces Pillow's BILINEAR filter bit for bit (same coefficients, same 22-bit
// fixed point, horizontal pass then vertical pass with an 8-bit intermediate).
#include "data/image_codec.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>

#include "runtime/error.h"

namespace attncamp::data {
namespace {

// A TurboJPEG handle per thread and direction, destroyed when the thread ends. After a failed
// call the handle is replaced: libjpeg-turbo 2.1 can leave it in a state (and with a stale
// warning flag) that makes the next call fail or misreport its error.
class TjHandle {
 public:
  explicit TjHandle(bool compress) : compress_(compress) { reset(); }
  ~TjHandle() {
    if (handle_ != nullptr) tjDestroy(handle_);
  }
  TjHandle(const TjHandle&) = delete;
  TjHandle& operator=(const TjHandle&) = delete;
  tjhandle get() const { return handle_; }
  void reset() {
    if (handle_ != nullptr) tjDestroy(handle_);
    handle_ = compress_ ? tjInitCompress() : tjInitDecompress();
    ATTNCAMP_CHECK(handle_ != nullptr, "TurboJPEG initialisation failed: ", tjGetErrorStr2(nullptr));
  }

 private:
  bool compress_;
  tjhandle handle_ = nullptr;
};

TjHandle& decompressor() {
  thread_local TjHandle h(false);
  return h;
}

TjHandle& compressor() {
  thread_local TjHandle h(true);
  return h;
}

// Runs a TurboJPEG call on `tj` (a TjHandle); on failure the handle is replaced, and unless
// `warning_ok` and the failure was a mere warning, throws naming `what`. Decoding accepts
// warnings such as extraneous bytes before a marker, like Pillow, except a premature end of
// data (a truncated file), which Pillow also refuses.
#define ATTNCAMP_TJ_CHECK(tj, call, what, warning_ok)                                                \
  do {                                                                                               \
    if ((call) != 0) {                                                                               \
      const std::string tj_msg = tjGetErrorStr2((tj).get());                                         \
      const bool tj_fatal = !(warning_ok) || tjGetErrorCode((tj).get()) != TJERR_WARNING ||          \
                            tj_msg.find("Premature end") != std::string::npos;                       \
      (tj).reset();                                                                                  \
      if (tj_fatal) {                                                                                \
        const std::string tj_call = #call;                                                           \
        ATTNCAMP_THROW(what, ": JPEG error in ", tj_call.substr(0, tj_call.find('(')), ": ", tj_msg, \
                       " (corrupt or truncated file?)");                                             \
      }                                                                                              \
    }                                                                                                \
  } while (0)

// Pillow's RGB → L conversion (ITU-R 601-2 luma, 16-bit fixed point).
uint8_t luma(int r, int g, int b) { return static_cast<uint8_t>((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16); }

Image rgb_to_grey(const Image& rgb) {
  Image out{rgb.height, rgb.width, 1, {}};
  out.pixels.resize(static_cast<size_t>(rgb.height) * rgb.width);
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const uint8_t* p = &rgb.pixels[3 * i];
    out.pixels[i] = luma(p[0], p[1], p[2]);
  }
  return out;
}

Image decode_jpeg(const uint8_t* data, size_t size, int channels, const std::string& what) {
  TjHandle& tj = decompressor();
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  ATTNCAMP_TJ_CHECK(tj, tjDecompressHeader3(tj.get(), data, size, &width, &height, &subsamp, &colorspace), what, false);
  ATTNCAMP_CHECK(width > 0 && height > 0, what, ": JPEG header gives an empty image");
  Image img{height, width, channels, {}};
  const size_t n = static_cast<size_t>(height) * width;
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    // TurboJPEG cannot convert CMYK to RGB; it hands back the stored (Adobe-inverted) CMYK,
    // which we convert like Pillow: R = (255 - C)(255 - K) / 255 with C, K un-inverted.
    std::vector<uint8_t> cmyk(n * 4);
    ATTNCAMP_TJ_CHECK(tj, tjDecompress2(tj.get(), data, size, cmyk.data(), width, 0, height, TJPF_CMYK, 0), what, true);
    Image rgb{height, width, 3, std::vector<uint8_t>(n * 3)};
    for (size_t i = 0; i < n; ++i) {
      const int nk = cmyk[4 * i + 3];  // 255 - K
      for (int c = 0; c < 3; ++c) {
        const int v = cmyk[4 * i + c] * nk;  // (255 - C)(255 - K), Pillow's MULDIV255
        rgb.pixels[3 * i + c] = static_cast<uint8_t>((v + 128 + ((v + 128) >> 8)) >> 8);
      }
    }
    return channels == 3 ? rgb : rgb_to_grey(rgb);
  }
  img.pixels.resize(n * channels);
  const int pf = channels == 3 ? TJPF_RGB : TJPF_GRAY;
  ATTNCAMP_TJ_CHECK(tj, tjDecompress2(tj.get(), data, size, img.pixels.data(), width, 0, height, pf, 0), what, true);
  return img;
}

// RAII for a png_image (frees libpng's internal state on every path).
struct PngImage {
  png_image image;
  PngImage() {
    std::memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
  }
  ~PngImage() { png_image_free(&image); }
  PngImage(const PngImage&) = delete;
  PngImage& operator=(const PngImage&) = delete;
};

#define ATTNCAMP_PNG_CHECK(png, call, what) \
  ATTNCAMP_CHECK((call) != 0, what, ": PNG error in " #call ": ", (png).image.message, " (corrupt file?)")

Image decode_png(const uint8_t* data, size_t size, int channels, const std::string& what) {
  PngImage png;
  ATTNCAMP_PNG_CHECK(png, png_image_begin_read_from_memory(&png.image, data, size), what);
  if (channels == 1 && (png.image.format & PNG_FORMAT_FLAG_COLOR) != 0) {
    // Colour to grey with Pillow's luma rather than libpng's linear-light conversion.
    return rgb_to_grey(decode_png(data, size, 3, what));
  }
  const int height = static_cast<int>(png.image.height), width = static_cast<int>(png.image.width);
  const size_t n = static_cast<size_t>(height) * width;
  // With alpha we read RGBA/GA and drop alpha (as Pillow's convert does) rather than let
  // libpng composite onto a background.
  const bool alpha = (png.image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  const int stored = channels + (alpha ? 1 : 0);
  png.image.format =
      channels == 3 ? (alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB) : (alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY);
  std::vector<uint8_t> buf(n * stored);
  ATTNCAMP_PNG_CHECK(png, png_image_finish_read(&png.image, nullptr, buf.data(), 0, nullptr), what);
  Image img{height, width, channels, {}};
  if (!alpha) {
    img.pixels = std::move(buf);
    return img;
  }
  img.pixels.resize(n * channels);
  for (size_t i = 0; i < n; ++i) std::memcpy(&img.pixels[i * channels], &buf[i * stored], channels);
  return img;
}

// Pillow's precompute_coeffs for the bilinear (triangle) filter, then normalize_coeffs_8bpc:
// for each output index, the first input index, the tap count and fixed-point weights.
constexpr int kPrecisionBits = 32 - 8 - 2;

struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // out_size * ksize
};

Coeffs bilinear_coeffs(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double t = std::fabs((x + xmin - center + 0.5) * ss);
      k[x] = t < 1.0 ? 1.0 - t : 0.0;
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = (ww != 0.0 ? k[x] / ww : k[x]) * (1 << kPrecisionBits);
      c.weights[static_cast<size_t>(xx) * c.ksize + x] = static_cast<int32_t>(w < 0 ? w - 0.5 : w + 0.5);
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

constexpr int32_t kHalf = int32_t{1} << (kPrecisionBits - 1);  // rounding term of every sum

uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

}  // namespace

ImageFormat sniff_image_format(const uint8_t* data, size_t size) {
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::kJpeg;
  if (size >= 4 && data[0] == 0x89 && data[1] == 'P' && data[2] == 'N' && data[3] == 'G') return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

Image decode_image(const uint8_t* data, size_t size, int channels, const std::string& what) {
  ATTNCAMP_CHECK(channels == 1 || channels == 3, what, ": can decode to 1 or 3 channels, not ", channels);
  switch (sniff_image_format(data, size)) {
    case ImageFormat::kJpeg: return decode_jpeg(data, size, channels, what);
    case ImageFormat::kPng: return decode_png(data, size, channels, what);
    default: ATTNCAMP_THROW(what, ": not a JPEG or PNG image (", size, " bytes, unknown signature)");
  }
}

void image_size(const uint8_t* data, size_t size, int* height, int* width, const std::string& what) {
  switch (sniff_image_format(data, size)) {
    case ImageFormat::kJpeg: {
      TjHandle& tj = decompressor();
      int subsamp = 0, colorspace = 0;
      ATTNCAMP_TJ_CHECK(tj, tjDecompressHeader3(tj.get(), data, size, width, height, &subsamp, &colorspace), what,
                        false);
      return;
    }
    case ImageFormat::kPng: {
      PngImage png;
      ATTNCAMP_PNG_CHECK(png, png_image_begin_read_from_memory(&png.image, data, size), what);
      *height = static_cast<int>(png.image.height);
      *width = static_cast<int>(png.image.width);
      return;
    }
    default: ATTNCAMP_THROW(what, ": not a JPEG or PNG image (", size, " bytes, unknown signature)");
  }
}

std::vector<uint8_t> encode_jpeg(const Image& img, int quality, const std::string& what) {
  ATTNCAMP_CHECK(quality >= 1 && quality <= 100, what, ": JPEG quality must be in 1..100, got ", quality);
  ATTNCAMP_CHECK(img.channels == 1 || img.channels == 3, what, ": can encode 1 or 3 channels, not ", img.channels);
  ATTNCAMP_CHECK(img.height > 0 && img.width > 0, what, ": cannot encode an empty image");
  ATTNCAMP_CHECK(img.pixels.size() == static_cast<size_t>(img.height) * img.width * img.channels, what,
                 ": pixel buffer size does not match ", img.height, "x", img.width, "x", img.channels);
  TjHandle& tj = compressor();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int pf = img.channels == 3 ? TJPF_RGB : TJPF_GRAY;
  const int subsamp = img.channels == 3 ? TJSAMP_420 : TJSAMP_GRAY;
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(nullptr, tjFree);
  const auto tj_compress2 = [&] {
    const int rc =
        tjCompress2(tj.get(), img.pixels.data(), img.width, 0, img.height, pf, &buf, &size, subsamp, quality, 0);
    owned.reset(buf);
    return rc;
  };
  ATTNCAMP_TJ_CHECK(tj, tj_compress2(), what, false);
  return std::vector<uint8_t>(buf, buf + size);
}

Image resize_bilinear_window(const Image& img, int y, int x, int h, int w, int out_h, int out_w) {
  ATTNCAMP_CHECK(out_h > 0 && out_w > 0, "resize_bilinear: output size must be positive, got ", out_h, "x", out_w);
  ATTNCAMP_CHECK(y >= 0 && x >= 0 && h > 0 && w > 0 && y + h <= img.height && x + w <= img.width,
                 "resize_bilinear: window rows [", y, ", ", y + h, ") x columns [", x, ", ", x + w, ") of a ",
                 img.height, "x", img.width, " image");
  const int ch = img.channels;
  const bool need_h = out_w != w, need_v = out_h != h;
  const Coeffs cy = bilinear_coeffs(h, out_h);
  // Window rows that some output row reads (all of them without a vertical pass).
  const int y0 = need_v ? cy.first[0] : 0;
  const int y1 = need_v ? cy.first[out_h - 1] + cy.count[out_h - 1] : h;
  const size_t in_row = static_cast<size_t>(img.width) * ch, row_len = static_cast<size_t>(out_w) * ch;
  // Horizontal pass over rows [y0, y1) of the window, out_w wide (rounded to u8, as Pillow does).
  // int32 sums as in Pillow: the weights are non-negative and add up to about 2^22, so a sum
  // stays below 255 * 2^22 * 1.01 < 2^31.
  std::vector<uint8_t> tmp(static_cast<size_t>(y1 - y0) * row_len);
  const Coeffs cx = need_h ? bilinear_coeffs(w, out_w) : Coeffs();
  for (int r = y0; r < y1; ++r) {
    const uint8_t* in = img.pixels.data() + static_cast<size_t>(y + r) * in_row + static_cast<size_t>(x) * ch;
    uint8_t* out = tmp.data() + static_cast<size_t>(r - y0) * row_len;
    if (!need_h) {
      std::memcpy(out, in, row_len);
      continue;
    }
    for (int o = 0; o < out_w; ++o) {
      const int32_t* wt = &cx.weights[static_cast<size_t>(o) * cx.ksize];
      const uint8_t* p = in + static_cast<size_t>(cx.first[o]) * ch;
      int32_t acc[3] = {kHalf, kHalf, kHalf};
      if (ch == 3) {
        for (int k = 0; k < cx.count[o]; ++k, p += 3) {
          acc[0] += p[0] * wt[k];
          acc[1] += p[1] * wt[k];
          acc[2] += p[2] * wt[k];
        }
      } else {
        for (int k = 0; k < cx.count[o]; ++k) acc[0] += p[k] * wt[k];
      }
      for (int c = 0; c < ch; ++c) out[o * ch + c] = clip8(acc[c]);
    }
  }
  Image out{out_h, out_w, ch, {}};
  if (!need_v) {
    out.pixels = std::move(tmp);
    return out;
  }
  // Vertical pass, row-vectorised: acc[i] += tmp[row k][i] * w[k].
  out.pixels.resize(static_cast<size_t>(out_h) * row_len);
  std::vector<int32_t> acc(row_len);
  for (int o = 0; o < out_h; ++o) {
    const int32_t* wt = &cy.weights[static_cast<size_t>(o) * cy.ksize];
    std::fill(acc.begin(), acc.end(), kHalf);
    for (int k = 0; k < cy.count[o]; ++k) {
      const uint8_t* src = tmp.data() + static_cast<size_t>(cy.first[o] + k - y0) * row_len;
      const int32_t wk = wt[k];
      for (size_t i = 0; i < row_len; ++i) acc[i] += src[i] * wk;
    }
    uint8_t* dst = out.pixels.data() + static_cast<size_t>(o) * row_len;
    for (size_t i = 0; i < row_len; ++i) dst[i] = clip8(acc[i]);
  }
  return out;
}

Image resize_bilinear(const Image& img, int out_h, int out_w) {
  ATTNCAMP_CHECK(img.height > 0 && img.width > 0, "resize_bilinear: empty input image");
  return resize_bilinear_window(img, 0, 0, img.height, img.width, out_h, out_w);
}

Image resize_shorter_side(const Image& img, int size, bool do_crop) {
  ATTNCAMP_CHECK(size > 0, "resize_shorter_side: size must be positive, got ", size);
  ATTNCAMP_CHECK(img.height > 0 && img.width > 0, "resize_shorter_side: empty input image");
  // torchvision.transforms.functional.resize: the longer side is int(size * long / short).
  int out_h = size, out_w = size;
  if (img.width < img.height) {
    out_h = static_cast<int>(static_cast<int64_t>(size) * img.height / img.width);
  } else if (img.height < img.width) {
    out_w = static_cast<int>(static_cast<int64_t>(size) * img.width / img.height);
  }
  Image resized = resize_bilinear(img, out_h, out_w);
  if (!do_crop) return resized;
  // torchvision.transforms.functional.center_crop: top = int(round((h - size) / 2.0)) with
  // Python's round-half-to-even, which std::nearbyint also does in the default rounding mode.
  const int top = static_cast<int>(std::nearbyint((out_h - size) / 2.0));
  const int left = static_cast<int>(std::nearbyint((out_w - size) / 2.0));
  return crop(resized, top, left, size, size);
}

Image crop(const Image& img, int y, int x, int h, int w) {
  ATTNCAMP_CHECK(y >= 0 && x >= 0 && h > 0 && w > 0 && y + h <= img.height && x + w <= img.width, "crop: rows [", y,
                 ", ", y + h, ") x columns [", x, ", ", x + w, ") do not lie inside a ", img.height, "x", img.width,
                 " image");
  Image out{h, w, img.channels, std::vector<uint8_t>(static_cast<size_t>(h) * w * img.channels)};
  const size_t in_row = static_cast<size_t>(img.width) * img.channels, out_row = static_cast<size_t>(w) * img.channels;
  for (int r = 0; r < h; ++r) {
    std::memcpy(&out.pixels[r * out_row], &img.pixels[(r + y) * in_row + static_cast<size_t>(x) * img.channels],
                out_row);
  }
  return out;
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  ATTNCAMP_CHECK(in.good(), path, ": cannot open file for reading (missing or no permission?)");
  const std::streamoff size = in.tellg();
  ATTNCAMP_CHECK(size >= 0, path, ": cannot determine the file size");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  ATTNCAMP_CHECK(in.good() || (size == 0 && !in.bad()), path, ": read failed after ", in.gcount(), " of ", size,
                 " bytes");
  return bytes;
}

}  // namespace attncamp::data
