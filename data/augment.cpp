// Augmentations for classification, detection and EEG samples; all randomness from
// SampleRng (Philox keyed by seed, epoch and sample index).
#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/image_codec.h"
#include "runtime/error.h"
#include "runtime/rng.h"

namespace attncamp::data {

const float kImagenetMean[3] = {0.485f, 0.456f, 0.406f};
const float kImagenetStd[3] = {0.229f, 0.224f, 0.225f};

SampleRng::SampleRng(uint64_t seed, int64_t epoch, int64_t index)
    : seed_(seed),
      stream_(static_cast<uint64_t>(epoch) << 32 | static_cast<uint64_t>(RngStream::kAugment)),
      index_(static_cast<uint64_t>(index)) {}

float SampleRng::uniform(int k) const { return philox_uniform(seed_, stream_, index_ * 64 + static_cast<uint64_t>(k)); }

float SampleRng::normal(int64_t j) const {
  // Normals use the stream with bit 31 set, so they never overlap the uniform draws.
  return philox_normal(seed_, stream_ | (uint64_t{1} << 31), (index_ << 20) + static_cast<uint64_t>(j));
}

CropBox random_resized_crop_box(int height, int width, const SampleRng& rng, float scale_min, float scale_max,
                                float ratio_min, float ratio_max) {
  const double area = static_cast<double>(height) * width;
  const double log_lo = std::log(ratio_min), log_hi = std::log(ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * (scale_min + (scale_max - scale_min) * rng.uniform(3 * attempt));
    const double ratio = std::exp(log_lo + (log_hi - log_lo) * rng.uniform(3 * attempt + 1));
    const int w = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    const int h = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const float u = rng.uniform(3 * attempt + 2);
      // One draw gives both offsets: its low and high parts would correlate, so split the
      // unit interval as (row, column) = (floor(u * ny), floor(frac(u * ny) * nx)).
      const double ny = height - h + 1, nx = width - w + 1;
      const double fy = u * ny;
      const int y = std::min(static_cast<int>(fy), height - h);
      const int x = std::min(static_cast<int>((fy - std::floor(fy)) * nx), width - w);
      return CropBox{y, x, h, w};
    }
  }
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < ratio_min) {
    h = static_cast<int>(std::lround(w / ratio_min));
  } else if (in_ratio > ratio_max) {
    w = static_cast<int>(std::lround(h * ratio_max));
  }
  return CropBox{(height - h) / 2, (width - w) / 2, h, w};
}

Image resized_crop(const Image& img, const CropBox& box, int out_h, int out_w) {
  return resize_bilinear_window(img, box.y, box.x, box.h, box.w, out_h, out_w);
}

void flip_horizontal(Image& img) {
  const int c = img.channels;
  for (int y = 0; y < img.height; ++y) {
    uint8_t* row = img.pixels.data() + static_cast<size_t>(y) * img.width * c;
    for (int l = 0, r = img.width - 1; l < r; ++l, --r) {
      for (int k = 0; k < c; ++k) std::swap(row[l * c + k], row[r * c + k]);
    }
  }
}

Image augment_classification(const Image& img, const ClassificationAugment& a, const SampleRng& rng) {
  ATTNCAMP_CHECK(img.height > 0 && img.width > 0, "augment_classification: empty image");
  if (!a.train) {
    Image r = resize_shorter_side(img, a.eval_resize, false);
    ATTNCAMP_CHECK(r.height >= a.size && r.width >= a.size, "augment_classification: eval_resize ", a.eval_resize,
                   " is smaller than size ", a.size);
    // torchvision center_crop: offsets round((h - size) / 2) (half to even, as nearbyint).
    return crop(r, static_cast<int>(std::nearbyint((r.height - a.size) / 2.0)),
                static_cast<int>(std::nearbyint((r.width - a.size) / 2.0)), a.size, a.size);
  }
  Image out;
  if (a.random_resized_crop) {
    const CropBox b = random_resized_crop_box(img.height, img.width, rng, a.scale_min, a.scale_max);
    out = resized_crop(img, b, a.size, a.size);
  } else if (img.height != a.size || img.width != a.size) {
    out = resized_crop(img, CropBox{0, 0, img.height, img.width}, a.size, a.size);
  } else {
    out = img;
  }
  if (a.flip && rng.uniform(30) < 0.5f) flip_horizontal(out);
  return out;
}

void normalize_hwc(const uint8_t* src, int64_t pixels, int channels, const float* mean, const float* std, float* dst) {
  float scale[4], shift[4];
  ATTNCAMP_CHECK(channels >= 1 && channels <= 4, "normalize_hwc: ", channels, " channels (1..4 supported)");
  for (int c = 0; c < channels; ++c) {
    scale[c] = 1.0f / (255.0f * std[c]);
    shift[c] = -mean[c] / std[c];
  }
  for (int64_t p = 0; p < pixels; ++p) {
    for (int c = 0; c < channels; ++c) dst[p * channels + c] = src[p * channels + c] * scale[c] + shift[c];
  }
}

Letterbox letterbox(const Image& img, int canvas) {
  ATTNCAMP_CHECK(img.height > 0 && img.width > 0 && canvas > 0, "letterbox: empty image or canvas");
  Letterbox lb;
  lb.scale = static_cast<float>(canvas) / static_cast<float>(std::max(img.height, img.width));
  lb.new_h = std::clamp(static_cast<int>(std::lround(img.height * lb.scale)), 1, canvas);
  lb.new_w = std::clamp(static_cast<int>(std::lround(img.width * lb.scale)), 1, canvas);
  const Image r = resize_bilinear(img, lb.new_h, lb.new_w);
  const int c = img.channels;
  lb.image.height = lb.image.width = canvas;
  lb.image.channels = c;
  lb.image.pixels.assign(static_cast<size_t>(canvas) * canvas * c, 0);
  lb.mask.assign(static_cast<size_t>(canvas) * canvas, 0);
  for (int y = 0; y < lb.new_h; ++y) {
    std::copy_n(r.pixels.data() + static_cast<size_t>(y) * lb.new_w * c, static_cast<size_t>(lb.new_w) * c,
                lb.image.pixels.data() + static_cast<size_t>(y) * canvas * c);
    std::fill_n(lb.mask.data() + static_cast<size_t>(y) * canvas, lb.new_w, uint8_t{1});
  }
  return lb;
}

void scale_boxes(std::vector<float>& boxes, float scale) {
  for (float& v : boxes) v *= scale;
}

void flip_boxes(std::vector<float>& boxes, float width) {
  for (size_t b = 0; b + 3 < boxes.size(); b += 4) boxes[b] = width - boxes[b] - boxes[b + 2];
}

void augment_eeg(const float* src, int64_t channels, int64_t samples, const EegAugment& a, const SampleRng& rng,
                 float* dst) {
  const int64_t len = a.length > 0 ? a.length : samples;
  ATTNCAMP_CHECK(len <= samples, "augment_eeg: crop length ", len, " exceeds the epoch's ", samples, " samples");
  int64_t start = (samples - len) / 2;
  if (a.train) start = std::min(samples - len, static_cast<int64_t>(rng.uniform(0) * (samples - len + 1)));
  for (int64_t c = 0; c < channels; ++c) {
    const float* s = src + c * samples + start;
    float* d = dst + c * len;
    double mean = 0, var = 0;
    if (a.standardize) {
      for (int64_t t = 0; t < len; ++t) mean += s[t];
      mean /= static_cast<double>(len);
      for (int64_t t = 0; t < len; ++t) var += (s[t] - mean) * (s[t] - mean);
      var /= static_cast<double>(len);
    }
    const double inv = a.standardize ? 1.0 / (std::sqrt(var) + 1e-6) : 1.0;
    for (int64_t t = 0; t < len; ++t) {
      float v = static_cast<float>((s[t] - mean) * inv);
      if (a.train && a.noise_std > 0) v += a.noise_std * rng.normal(c * len + t);
      d[t] = v;
    }
  }
}

}  // namespace attncamp::data
