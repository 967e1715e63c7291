// Tests for the augmentations: random-resized-crop boxes (bounds, scale and ratio, fallback,
// determinism), flips of images and boxes, letterbox geometry and masks, normalisation, eval
// crops and EEG crops, standardisation and noise.
#include "data/augment.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace attncamp::data {
namespace {

Image constant_image(int h, int w, uint8_t v) {
  Image img;
  img.height = h;
  img.width = w;
  img.channels = 3;
  img.pixels.assign(static_cast<size_t>(h) * w * 3, v);
  return img;
}

TEST(RandomResizedCrop, BoxesLieInsideWithTorchvisionScaleAndRatio) {
  std::set<std::pair<int, int>> positions;
  for (int64_t i = 0; i < 2000; ++i) {
    const CropBox b = random_resized_crop_box(300, 400, SampleRng(3, 1, i));
    ASSERT_GE(b.y, 0);
    ASSERT_GE(b.x, 0);
    ASSERT_LE(b.y + b.h, 300);
    ASSERT_LE(b.x + b.w, 400);
    const double frac = static_cast<double>(b.h) * b.w / (300.0 * 400.0);
    const double ratio = static_cast<double>(b.w) / b.h;
    // Rounding w and h to pixels moves area and ratio by at most ~1 pixel's worth.
    EXPECT_GE(frac, 0.08 * 0.9) << i;
    EXPECT_LE(frac, 1.0) << i;
    EXPECT_GE(ratio, 0.75 * 0.9) << i;
    EXPECT_LE(ratio, 4.0 / 3.0 * 1.1) << i;
    positions.insert({b.y, b.x});
  }
  EXPECT_GT(positions.size(), 1500u);  // positions are spread, not stuck at a corner
}

TEST(RandomResizedCrop, SameKeySameBoxOtherKeyOtherBox) {
  const CropBox a = random_resized_crop_box(256, 256, SampleRng(1, 2, 3));
  const CropBox b = random_resized_crop_box(256, 256, SampleRng(1, 2, 3));
  EXPECT_EQ(std::tie(a.y, a.x, a.h, a.w), std::tie(b.y, b.x, b.h, b.w));
  int differ = 0;
  for (int64_t i = 0; i < 10; ++i) {
    const CropBox c = random_resized_crop_box(256, 256, SampleRng(1, 2, 4 + i));
    const CropBox d = random_resized_crop_box(256, 256, SampleRng(1, 3, 4 + i));  // next epoch
    differ += std::tie(c.y, c.x, c.h, c.w) != std::tie(d.y, d.x, d.h, d.w);
  }
  EXPECT_GE(differ, 9);
}

TEST(RandomResizedCrop, FallsBackToCentredRatioClampedCrop) {
  // 10 x 1000: every attempt needs h > 10, so torchvision's fallback applies: h = 10,
  // w = round(10 * 4/3) = 13, centred.
  const CropBox b = random_resized_crop_box(10, 1000, SampleRng(0, 0, 0));
  EXPECT_EQ(b.h, 10);
  EXPECT_EQ(b.w, 13);
  EXPECT_EQ(b.y, 0);
  EXPECT_EQ(b.x, (1000 - 13) / 2);
}

// The fast resized_crop against its reference resize_bilinear(crop(...)): bit-identical for
// shrinking, enlarging, one-axis-only and grey images.
TEST(ResizedCrop, BitIdenticalToResizeOfCrop) {
  for (int ch : {3, 1}) {
    Image img;
    img.height = 97;
    img.width = 131;
    img.channels = ch;
    img.pixels.resize(static_cast<size_t>(97) * 131 * ch);
    for (size_t k = 0; k < img.pixels.size(); ++k) img.pixels[k] = static_cast<uint8_t>((k * 2654435761u) >> 24);
    const CropBox boxes[] = {{3, 5, 90, 120}, {10, 20, 17, 23}, {0, 0, 97, 131}, {40, 7, 32, 50}};
    const int sizes[][2] = {{32, 32}, {64, 40}, {97, 64}, {32, 77}};
    for (const CropBox& b : boxes) {
      for (const auto& s : sizes) {
        const Image fast = resized_crop(img, b, s[0], s[1]);
        const Image ref = resize_bilinear(crop(img, b.y, b.x, b.h, b.w), s[0], s[1]);
        ASSERT_EQ(fast.height, ref.height);
        ASSERT_EQ(fast.width, ref.width);
        ASSERT_EQ(fast.pixels, ref.pixels)
            << ch << " channels, box " << b.h << "x" << b.w << " -> " << s[0] << "x" << s[1];
      }
    }
  }
}

TEST(Flip, MirrorsPixelsAndBoxes) {
  Image img = constant_image(2, 3, 0);
  for (size_t k = 0; k < img.pixels.size(); ++k) img.pixels[k] = static_cast<uint8_t>(k);
  flip_horizontal(img);
  // Row 0 was pixels (0,1,2) (3,4,5) (6,7,8).
  EXPECT_EQ(std::vector<uint8_t>(img.pixels.begin(), img.pixels.begin() + 9),
            (std::vector<uint8_t>{6, 7, 8, 3, 4, 5, 0, 1, 2}));
  std::vector<float> boxes = {10, 5, 20, 7, 0, 0, 100, 50};
  flip_boxes(boxes, 100);
  EXPECT_EQ(boxes, (std::vector<float>{70, 5, 20, 7, 0, 0, 100, 50}));  // x' = W - x - w
  flip_boxes(boxes, 100);
  EXPECT_EQ(boxes, (std::vector<float>{10, 5, 20, 7, 0, 0, 100, 50}));
}

TEST(Letterbox, KeepsAspectPadsAndMasks) {
  const Letterbox lb = letterbox(constant_image(40, 20, 200), 80);
  EXPECT_FLOAT_EQ(lb.scale, 2.0f);
  EXPECT_EQ(lb.new_h, 80);
  EXPECT_EQ(lb.new_w, 40);
  ASSERT_EQ(lb.image.height, 80);
  ASSERT_EQ(lb.image.width, 80);
  ASSERT_EQ(lb.mask.size(), 6400u);
  int ones = 0;
  for (int y = 0; y < 80; ++y) {
    for (int x = 0; x < 80; ++x) {
      const bool inside = x < 40;
      ones += lb.mask[y * 80 + x];
      ASSERT_EQ(lb.mask[y * 80 + x], inside ? 1 : 0) << y << "," << x;
      ASSERT_EQ(lb.image.pixels[(y * 80 + x) * 3 + 1], inside ? 200 : 0) << y << "," << x;
    }
  }
  EXPECT_EQ(ones, 80 * 40);
  std::vector<float> boxes = {2, 4, 6, 8};
  scale_boxes(boxes, lb.scale);
  EXPECT_EQ(boxes, (std::vector<float>{4, 8, 12, 16}));
  flip_boxes(boxes, static_cast<float>(lb.new_w));  // flip within the valid area
  EXPECT_EQ(boxes, (std::vector<float>{24, 8, 12, 16}));
}

TEST(Classification, TrainAndEvalShapes) {
  ClassificationAugment a;
  a.size = 32;
  const Image big = constant_image(60, 90, 77);
  const Image t = augment_classification(big, a, SampleRng(0, 0, 5));
  EXPECT_EQ(t.height, 32);
  EXPECT_EQ(t.width, 32);
  for (uint8_t v : t.pixels) ASSERT_EQ(v, 77);  // a constant image stays constant
  a.train = false;
  a.eval_resize = 40;
  const Image e = augment_classification(big, a, SampleRng(0, 0, 5));
  EXPECT_EQ(e.height, 32);
  EXPECT_EQ(e.width, 32);
  // Raw path without crop: only the flip, decided by draw 30.
  ClassificationAugment r;
  r.size = 2;
  r.random_resized_crop = false;
  Image img = constant_image(2, 2, 0);
  for (size_t k = 0; k < img.pixels.size(); ++k) img.pixels[k] = static_cast<uint8_t>(k);
  int flipped = 0;
  for (int64_t i = 0; i < 200; ++i) {
    const SampleRng rng(9, 0, i);
    const Image o = augment_classification(img, r, rng);
    const bool f = rng.uniform(30) < 0.5f;
    flipped += f;
    ASSERT_EQ(o.pixels[0], f ? 3 : 0);
  }
  EXPECT_GT(flipped, 70);
  EXPECT_LT(flipped, 130);
}

TEST(Normalize, MatchesToTensorAndNormalize) {
  const uint8_t px[6] = {0, 128, 255, 10, 20, 30};
  float out[6];
  normalize_hwc(px, 2, 3, kImagenetMean, kImagenetStd, out);
  for (int k = 0; k < 6; ++k) {
    const int c = k % 3;
    EXPECT_NEAR(out[k], (px[k] / 255.0 - kImagenetMean[c]) / kImagenetStd[c], 1e-5) << k;
  }
}

TEST(Eeg, EvalCropIsCentredAndTrainCropIsRandomButKeyed) {
  const int64_t c = 2, t = 10;
  std::vector<float> x(c * t);
  for (int64_t k = 0; k < c * t; ++k) x[k] = static_cast<float>(k);
  EegAugment a;
  a.length = 4;
  a.train = false;
  a.standardize = false;
  std::vector<float> out(c * 4);
  augment_eeg(x.data(), c, t, a, SampleRng(0, 0, 0), out.data());
  EXPECT_EQ(out, (std::vector<float>{3, 4, 5, 6, 13, 14, 15, 16}));
  a.train = true;
  std::set<float> starts;
  for (int64_t i = 0; i < 100; ++i) {
    augment_eeg(x.data(), c, t, a, SampleRng(0, 0, i), out.data());
    ASSERT_EQ(out[4] - out[0], 10.0f);  // both channels cut at the same start
    ASSERT_EQ(out[3] - out[0], 3.0f);
    starts.insert(out[0]);
  }
  EXPECT_EQ(starts.size(), 7u);  // every start 0..6 occurs
}

TEST(Eeg, StandardisesPerChannelAndAddsKeyedNoise) {
  const int64_t c = 3, t = 500;
  std::vector<float> x(c * t);
  for (int64_t k = 0; k < c * t; ++k) x[k] = static_cast<float>(100 * (k / t) + 7 * std::sin(0.1 * k));
  EegAugment a;
  std::vector<float> out(c * t), noisy(c * t), again(c * t);
  augment_eeg(x.data(), c, t, a, SampleRng(1, 0, 0), out.data());
  for (int64_t ch = 0; ch < c; ++ch) {
    double m = 0, v = 0;
    for (int64_t k = 0; k < t; ++k) m += out[ch * t + k];
    m /= t;
    for (int64_t k = 0; k < t; ++k) v += (out[ch * t + k] - m) * (out[ch * t + k] - m);
    EXPECT_NEAR(m, 0.0, 1e-5);
    EXPECT_NEAR(std::sqrt(v / t), 1.0, 1e-4);
  }
  a.noise_std = 0.5f;
  augment_eeg(x.data(), c, t, a, SampleRng(1, 0, 0), noisy.data());
  augment_eeg(x.data(), c, t, a, SampleRng(1, 0, 0), again.data());
  EXPECT_EQ(noisy, again);
  double s2 = 0;
  for (int64_t k = 0; k < c * t; ++k) s2 += (noisy[k] - out[k]) * (noisy[k] - out[k]);
  EXPECT_NEAR(std::sqrt(s2 / (c * t)), 0.5, 0.05);  // 1500 draws: std of the estimate ~0.01
}

}  // namespace
}  // namespace attncamp::data
