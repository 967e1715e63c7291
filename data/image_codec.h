// Image decoding, encoding and resizing for converters and the input pipeline: JPEG through
// libjpeg-turbo's TurboJPEG API (grey, RGB and CMYK/YCCK JPEGs all decode to RGB or grey), PNG
// through libpng (recognised by content, so a PNG named .JPEG decodes too). Images are uint8
// HWC, channels last. Errors throw attncamp::Error naming `what` (the file or sample).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attncamp::data {

struct Image {
  int height = 0, width = 0, channels = 0;  // channels: 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;              // height * width * channels, row-major HWC
};

enum class ImageFormat { kJpeg, kPng, kUnknown };
// Sniffs the format from the first bytes (JPEG: FF D8 FF; PNG: 89 'P' 'N' 'G').
ImageFormat sniff_image_format(const uint8_t* data, size_t size);

// Decodes JPEG or PNG bytes to `channels` (3: RGB, grey and CMYK converted; 1: luminance).
Image decode_image(const uint8_t* data, size_t size, int channels, const std::string& what);
// Height and width from the header only (JPEG or PNG), without decoding the pixels.
void image_size(const uint8_t* data, size_t size, int* height, int* width, const std::string& what);
// Encodes an image as baseline JPEG at `quality` (1..100), 4:2:0 subsampling for RGB.
std::vector<uint8_t> encode_jpeg(const Image& img, int quality, const std::string& what);

// Bilinear (antialiased when shrinking: a triangle filter over the source footprint, like
// Pillow's BILINEAR) resize to out_h x out_w.
Image resize_bilinear(const Image& img, int out_h, int out_w);
// The same filter applied to the window rows [y, y+h) x columns [x, x+w) of `img` (equal to
// resize_bilinear(crop(img, y, x, h, w), out_h, out_w), without the intermediate copy).
Image resize_bilinear_window(const Image& img, int y, int x, int h, int w, int out_h, int out_w);
// Resize so the shorter side is `size` (aspect kept), then, if `crop`, centre-crop to size x size.
Image resize_shorter_side(const Image& img, int size, bool crop);
// Crop rows [y, y+h) and columns [x, x+w) (must lie inside the image).
Image crop(const Image& img, int y, int x, int h, int w);

// Reads a whole file into memory (throws naming the path when it cannot).
std::vector<uint8_t> read_file_bytes(const std::string& path);

}  // namespace attncamp::data
