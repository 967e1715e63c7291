// Tests for data/image_codec: decoding of RGB, grey, CMYK JPEGs and PNGs (also one named .JPEG)
// against Pillow's decode + convert("RGB"), JPEG encode/decode round trips, and resizing against
// Pillow's BILINEAR resize (reducing_gap=None, which torchvision uses), plus clear errors.
#include "data/image_codec.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "tests/test_util.h"

namespace attncamp::data {
namespace {

using test::expect_error;

// Writes fixtures with Pillow into argv[1]: encoded files and, for each, Pillow's decoded
// RGB (or L) bytes as *.raw; a random source image and Pillow's resizes of it.
constexpr const char* kPillowScript = R"PY(
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
yy, xx = np.mgrid[0:61, 0:83]
smooth = np.stack([128 + 100 * np.sin(xx / 9.0), 128 + 90 * np.cos(yy / 7.0),
                   (xx * 2 + yy) % 256], axis=-1).astype(np.uint8)
smooth.tofile(d + "/smooth.rgb")
def save(img, name, fmt, **kw):
    img.save(d + "/" + name, fmt, **kw)
    ref = np.asarray(Image.open(d + "/" + name).convert("RGB"))
    open(d + "/" + name + ".raw", "wb").write(ref.tobytes())
rgb = Image.fromarray(smooth, "RGB")
save(rgb, "rgb.jpg", "JPEG", quality=90)
save(rgb.convert("L"), "grey.jpg", "JPEG", quality=90)
open(d + "/grey.jpg.L", "wb").write(np.asarray(Image.open(d + "/grey.jpg")).tobytes())
save(rgb.convert("CMYK"), "cmyk.jpg", "JPEG", quality=90)
save(rgb, "png_named.JPEG", "PNG")
open(d + "/png_named.JPEG.L", "wb").write(np.asarray(Image.open(d + "/png_named.JPEG").convert("L")).tobytes())
rgba = np.concatenate([smooth, (np.arange(61 * 83) % 256).reshape(61, 83, 1).astype(np.uint8)], -1)
save(Image.fromarray(rgba, "RGBA"), "rgba.png", "PNG")
save(rgb.convert("L"), "grey.png", "PNG")
data = open(d + "/rgb.jpg", "rb").read()
open(d + "/truncated.jpg", "wb").write(data[: len(data) // 2])
src = np.random.RandomState(0).randint(0, 256, size=(57, 91, 3)).astype(np.uint8)
src.tofile(d + "/src.rgb")
for h, w in [(20, 30), (57, 200), (120, 45), (13, 91), (57, 17), (5, 3), (1, 1)]:
    out = Image.fromarray(src, "RGB").resize((w, h), Image.BILINEAR, reducing_gap=None)
    np.asarray(out).tofile(d + "/resize_%dx%d.rgb" % (h, w))
import torch, torchvision.transforms.functional as F
t = F.center_crop(F.resize(Image.fromarray(src, "RGB"), 32), 32)
np.asarray(t).tofile(d + "/resize_crop32.rgb")
)PY";

std::vector<uint8_t> read_bytes(const std::string& path) { return read_file_bytes(path); }

int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  int m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::abs(int{a[i]} - int{b[i]}));
  return m;
}

double mean_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::abs(int{a[i]} - int{b[i]});
  return s / static_cast<double>(a.size());
}

Image load_raw(const std::string& path, int h, int w, int c) {
  Image img{h, w, c, read_bytes(path)};
  EXPECT_EQ(img.pixels.size(), static_cast<size_t>(h) * w * c) << path;
  return img;
}

class ImageCodecPillow : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::temp_dir();
    const std::string script = dir_ + "/make.py";
    std::ofstream(script) << kPillowScript;
    const std::string cmd = "/usr/bin/python3 " + script + " " + dir_ + " > " + dir_ + "/log.txt 2>&1";
    ok_ = std::system(cmd.c_str()) == 0;
    if (!ok_) {
      std::ifstream log(dir_ + "/log.txt");
      reason_.assign(std::istreambuf_iterator<char>(log), {});
    }
  }
  void SetUp() override {
    if (!ok_) GTEST_SKIP() << "/usr/bin/python3 with numpy, PIL, torchvision is needed: " << reason_;
  }
  Image decode_file(const std::string& name, int channels = 3) {
    const auto bytes = read_bytes(dir_ + "/" + name);
    return decode_image(bytes.data(), bytes.size(), channels, name);
  }
  static inline std::string dir_, reason_;
  static inline bool ok_ = false;
};

TEST_F(ImageCodecPillow, DecodesLikePillow) {
  // Same libjpeg-turbo, same DCT and upsampling: JPEG decodes match Pillow exactly; PNGs are
  // lossless. CMYK goes through our CMYK→RGB conversion, which follows Pillow's formula.
  for (const std::string name : {"rgb.jpg", "grey.jpg", "cmyk.jpg", "png_named.JPEG", "rgba.png", "grey.png"}) {
    SCOPED_TRACE(name);
    const Image img = decode_file(name);
    EXPECT_EQ(img.height, 61);
    EXPECT_EQ(img.width, 83);
    EXPECT_EQ(img.channels, 3);
    EXPECT_EQ(max_abs_diff(img.pixels, read_bytes(dir_ + "/" + name + ".raw")), 0);
    int h = 0, w = 0;
    const auto bytes = read_bytes(dir_ + "/" + name);
    image_size(bytes.data(), bytes.size(), &h, &w, name);
    EXPECT_EQ(h, 61);
    EXPECT_EQ(w, 83);
  }
  EXPECT_EQ(max_abs_diff(decode_file("grey.jpg", 1).pixels, read_bytes(dir_ + "/grey.jpg.L")), 0);
  // Colour to one channel uses Pillow's luma (convert("L")).
  EXPECT_EQ(max_abs_diff(decode_file("png_named.JPEG", 1).pixels, read_bytes(dir_ + "/png_named.JPEG.L")), 0);
}

TEST_F(ImageCodecPillow, SniffsFormatByContent) {
  const auto png = read_bytes(dir_ + "/png_named.JPEG");
  const auto jpg = read_bytes(dir_ + "/rgb.jpg");
  EXPECT_EQ(sniff_image_format(png.data(), png.size()), ImageFormat::kPng);
  EXPECT_EQ(sniff_image_format(jpg.data(), jpg.size()), ImageFormat::kJpeg);
  const uint8_t text[] = {'h', 'e', 'l', 'l', 'o'};
  EXPECT_EQ(sniff_image_format(text, sizeof(text)), ImageFormat::kUnknown);
  EXPECT_EQ(sniff_image_format(jpg.data(), 2), ImageFormat::kUnknown);
}

TEST_F(ImageCodecPillow, RoundTripWithinJpegTolerance) {
  const Image src = load_raw(dir_ + "/smooth.rgb", 61, 83, 3);
  for (int quality : {75, 90, 100}) {
    SCOPED_TRACE(quality);
    const auto jpeg = encode_jpeg(src, quality, "smooth");
    ASSERT_EQ(sniff_image_format(jpeg.data(), jpeg.size()), ImageFormat::kJpeg);
    const Image back = decode_image(jpeg.data(), jpeg.size(), 3, "smooth");
    ASSERT_EQ(back.height, 61);
    ASSERT_EQ(back.width, 83);
    // A smooth image at quality >= 75 with 4:2:0 chroma: small mean error, bounded peak error.
    EXPECT_LT(mean_abs_diff(back.pixels, src.pixels), quality == 100 ? 1.0 : 2.5);
    EXPECT_LE(max_abs_diff(back.pixels, src.pixels), 40);
  }
  // Grey images encode as one-component JPEGs.
  Image grey{61, 83, 1, std::vector<uint8_t>(61 * 83)};
  for (size_t i = 0; i < grey.pixels.size(); ++i) grey.pixels[i] = src.pixels[3 * i];
  const auto jpeg = encode_jpeg(grey, 95, "grey");
  const Image back = decode_image(jpeg.data(), jpeg.size(), 1, "grey");
  EXPECT_EQ(back.channels, 1);
  EXPECT_LT(mean_abs_diff(back.pixels, grey.pixels), 1.0);
}

TEST_F(ImageCodecPillow, ResizeMatchesPillowBilinear) {
  const Image src = load_raw(dir_ + "/src.rgb", 57, 91, 3);
  // Same coefficients and fixed-point arithmetic as Pillow: bit-exact on random noise, for
  // shrinking, enlarging, one axis only and to a single pixel.
  for (const auto& [h, w] :
       std::vector<std::pair<int, int>>{{20, 30}, {57, 200}, {120, 45}, {13, 91}, {57, 17}, {5, 3}, {1, 1}}) {
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w));
    const Image out = resize_bilinear(src, h, w);
    EXPECT_EQ(out.height, h);
    EXPECT_EQ(out.width, w);
    EXPECT_EQ(
        max_abs_diff(out.pixels, read_bytes(dir_ + "/resize_" + std::to_string(h) + "x" + std::to_string(w) + ".rgb")),
        0);
  }
  // torchvision resize(32) + center_crop(32): 57x91 → 32x51 → columns [10, 42).
  const Image rc = resize_shorter_side(src, 32, true);
  EXPECT_EQ(rc.height, 32);
  EXPECT_EQ(rc.width, 32);
  EXPECT_EQ(max_abs_diff(rc.pixels, read_bytes(dir_ + "/resize_crop32.rgb")), 0);
  const Image keep = resize_shorter_side(src, 32, false);
  EXPECT_EQ(keep.height, 32);
  EXPECT_EQ(keep.width, 51);  // int(32 * 91 / 57)
}

TEST_F(ImageCodecPillow, CorruptInputsNameTheSample) {
  const auto truncated = read_bytes(dir_ + "/truncated.jpg");
  expect_error([&] { decode_image(truncated.data(), truncated.size(), 3, "cat/truncated.jpg"); },
               {"cat/truncated.jpg", "JPEG error", "corrupt"});
  // Cut before the image data (header fails) and inside it (decoding fails); a good image
  // decoded right after each failure on the same thread still decodes exactly.
  const auto good = read_bytes(dir_ + "/rgb.jpg");
  for (size_t cut : {size_t{300}, good.size() / 2, good.size() - 10}) {
    SCOPED_TRACE(cut);
    const std::vector<uint8_t> part(good.begin(), good.begin() + cut);
    expect_error([&] { decode_image(part.data(), part.size(), 3, "cut.jpg"); }, {"cut.jpg", "JPEG error"});
    const Image img = decode_image(good.data(), good.size(), 3, "rgb.jpg");
    EXPECT_EQ(img.pixels, read_bytes(dir_ + "/rgb.jpg.raw"));
  }
  auto png = read_bytes(dir_ + "/rgba.png");
  png.resize(png.size() / 2);
  expect_error([&] { decode_image(png.data(), png.size(), 3, "x.png"); }, {"x.png", "PNG error"});
}

TEST(ImageCodec, UnknownFormatAndMissingFile) {
  const std::vector<uint8_t> text = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  expect_error([&] { decode_image(text.data(), text.size(), 3, "dir/a.JPEG"); },
               {"dir/a.JPEG", "not a JPEG or PNG image", "12 bytes"});
  int h = 0, w = 0;
  expect_error([&] { image_size(text.data(), text.size(), &h, &w, "dir/a.JPEG"); }, {"dir/a.JPEG", "not a JPEG"});
  const std::string missing = test::temp_dir() + "/missing.JPEG";
  expect_error([&] { read_file_bytes(missing); }, {missing, "cannot open"});
}

TEST(ImageCodec, CropAndChecks) {
  Image img{3, 4, 1, {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23}};
  const Image c = crop(img, 1, 1, 2, 2);
  EXPECT_EQ(c.pixels, (std::vector<uint8_t>{11, 12, 21, 22}));
  expect_error([&] { crop(img, 2, 0, 2, 2); }, {"crop", "do not lie inside a 3x4 image"});
  expect_error([&] { encode_jpeg(img, 0, "q0"); }, {"q0", "quality must be in 1..100"});
  // Resizing to the same size is the identity; a constant image stays constant.
  EXPECT_EQ(resize_bilinear(img, 3, 4).pixels, img.pixels);
  Image flat{7, 9, 3, std::vector<uint8_t>(7 * 9 * 3, 77)};
  EXPECT_EQ(resize_bilinear(flat, 4, 20).pixels, std::vector<uint8_t>(4 * 20 * 3, 77));
}

}  // namespace
}  // namespace attncamp::data
