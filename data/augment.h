// Data augmentation for the input pipeline: classification (random-resized-crop, flip, eval
// resize + centre crop, optional normalisation), detection (letterbox resize onto a padded
// canvas with a validity mask, flip with boxes) and EEG (temporal crop, per-channel
// standardisation, Gaussian noise). Every random draw comes from Philox keyed by
// (seed, epoch, sample index), so results do not depend on threads or call order.
#pragma once

#include <cstdint>
#include <vector>

#include "data/image_codec.h"

namespace attncamp::data {

// Random draws of one sample in one epoch: draw k is philox_uniform(seed, stream(epoch), index*64 + k)
// with stream = epoch << 32 | RngStream::kAugment. At most 64 draws a sample (normals use their
// own sequence, see normal()).
class SampleRng {
 public:
  SampleRng(uint64_t seed, int64_t epoch, int64_t index);
  float uniform(int k) const;  // [0, 1)
  // Standard normal number j of this sample (j < 2^20).
  float normal(int64_t j) const;

 private:
  uint64_t seed_, stream_, index_;
};

// A crop window in pixels: rows [y, y+h), columns [x, x+w).
struct CropBox {
  int y = 0, x = 0, h = 0, w = 0;
};

// torchvision's RandomResizedCrop.get_params (0.14): up to 10 attempts of area fraction
// U(scale) and log-uniform aspect ratio in `ratio`, w = round(sqrt(area*r)), h = round(sqrt(area/r));
// the first that fits gets a uniform position; else the whole image clamped to the ratio range,
// centred. Uses draws 0..29 of `rng`.
CropBox random_resized_crop_box(int height, int width, const SampleRng& rng, float scale_min = 0.08f,
                                float scale_max = 1.0f, float ratio_min = 3.0f / 4.0f, float ratio_max = 4.0f / 3.0f);

// torchvision's resized_crop: the window `box` of `img` resized to out_h x out_w with the
// antialiased bilinear filter of image_codec (resize_bilinear_window: no intermediate crop).
Image resized_crop(const Image& img, const CropBox& box, int out_h, int out_w);

// Mirrors an HWC image left-right in place.
void flip_horizontal(Image& img);

struct ClassificationAugment {
  int size = 224;                   // output height = width
  bool train = true;                // train: random-resized-crop + flip; eval: resize + centre crop
  bool random_resized_crop = true;  // train only; off: resize to size x size (if needed) + flip
  bool flip = true;                 // train only: flip with probability 1/2 (draw 30)
  int eval_resize = 256;            // eval: shorter side to this, then centre crop `size`
  float scale_min = 0.08f, scale_max = 1.0f;
};

// Augments one decoded image (u8 HWC) to u8 [size, size, C].
Image augment_classification(const Image& img, const ClassificationAugment& a, const SampleRng& rng);

// Writes u8 HWC pixels as f32 HWC (x / 255 - mean[c]) / std[c] (torchvision's ToTensor +
// Normalize, but channels last). `mean`, `std` have C entries.
void normalize_hwc(const uint8_t* src, int64_t pixels, int channels, const float* mean, const float* std, float* dst);

// ImageNet statistics (RGB, in [0, 1] units).
extern const float kImagenetMean[3];
extern const float kImagenetStd[3];

// --- Detection ---------------------------------------------------------------------------------

// Letterboxing: the image scaled by s = canvas / max(H, W) (aspect kept) to new_h x new_w,
// placed at the top-left of a canvas x canvas image filled with zeros; mask is 1 on the image.
struct Letterbox {
  Image image;                // canvas x canvas x C
  std::vector<uint8_t> mask;  // canvas x canvas, 1 = real pixel, 0 = padding
  float scale = 1;            // new size / old size
  int new_h = 0, new_w = 0;
};
Letterbox letterbox(const Image& img, int canvas);

// Boxes are COCO [x, y, w, h] in pixels, 4 floats each. Scales them by `scale` (in place).
void scale_boxes(std::vector<float>& boxes, float scale);
// Mirrors boxes for an image `width` pixels wide: x' = width - x - w (in place).
void flip_boxes(std::vector<float>& boxes, float width);

// --- EEG ---------------------------------------------------------------------------------------

struct EegAugment {
  int64_t length = 0;  // crop length L (0 = whole epoch); train: random start (draw 0), eval: centred
  bool train = true;
  bool standardize = true;  // per channel: (x - mean) / (std + 1e-6) over the crop
  float noise_std = 0;      // train: add noise_std * N(0, 1) after standardisation
};

// One epoch f32 [C, T] (row-major) -> f32 [C, L] written to `dst`.
void augment_eeg(const float* src, int64_t channels, int64_t samples, const EegAugment& a, const SampleRng& rng,
                 float* dst);

}  // namespace attncamp::data
