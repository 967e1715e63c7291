// Tests for the sharded readers and the prefetching loader on small synthetic files:
// bit-identical batches for 1, 2 and 3 threads, every sample once per epoch, the queue bound,
// worker errors naming file and index, and reading only the rank's shard.
#include "data/loader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "data/detection.h"
#include "data/hdf5.h"
#include "data/imagenet.h"
#include "data/sampler.h"
#include "tests/test_util.h"

namespace attncamp::data {
namespace {

constexpr int64_t kClasses = 5;

// Pixel (i, y, x, c) of synthetic image i: a smooth pattern that differs per image.
uint8_t pixel(int64_t i, int y, int x, int c) { return static_cast<uint8_t>((i * 37 + y * 5 + x * 3 + c * 60) % 256); }

Image make_image(int64_t i, int h, int w) {
  Image img;
  img.height = h;
  img.width = w;
  img.channels = 3;
  img.pixels.resize(static_cast<size_t>(h) * w * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.pixels[(static_cast<size_t>(y) * w + x) * 3 + c] = pixel(i, y, x, c);
  return img;
}

// Root attributes and /labels (i % kClasses) of a classification/1 file with n samples.
void write_header(hid_t f, int64_t n) {
  write_attr_string(f, "attncamp_schema", "classification/1");
  write_attr_int(f, "num_classes", kClasses);
  Tensor labels = Tensor::empty({n}, DType::kI32);
  for (int64_t i = 0; i < n; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>(i % kClasses);
  write_tensor(f, "labels", labels);
}

// classification/1 raw file: n images h x w x 3.
std::string write_raw(int64_t n, int h, int w) {
  const std::string path = test::temp_dir() + "/raw.h5";
  H5Id f = create_file(path);
  write_header(f.get(), n);
  Tensor images = Tensor::empty({n, h, w, 3}, DType::kU8);
  for (int64_t i = 0; i < n; ++i) {
    const Image img = make_image(i, h, w);
    std::memcpy(images.data<uint8_t>() + i * h * w * 3, img.pixels.data(), img.pixels.size());
  }
  write_tensor(f.get(), "images", images);
  write_attr_string(open_dataset(f.get(), "images").get(), "encoding", "raw");
  return path;
}

// classification/1 JPEG file; rows in `corrupt` hold bytes that are not an image.
std::string write_jpeg(int64_t n, int h, int w, const std::set<int64_t>& corrupt = {}) {
  const std::string path = test::temp_dir() + "/jpeg.h5";
  H5Id f = create_file(path);
  write_header(f.get(), n);
  std::vector<std::vector<uint8_t>> rows;
  for (int64_t i = 0; i < n; ++i) {
    if (corrupt.count(i) > 0) {
      rows.push_back({0xFF, 0xD8, 0xFF, 0x00, 0x12, 0x34});
    } else {
      rows.push_back(encode_jpeg(make_image(i, h + static_cast<int>(i % 3), w), 90, "test"));
    }
  }
  create_vlen_bytes(f.get(), "images", n);
  write_vlen_bytes_rows(f.get(), "images", 0, rows);
  write_attr_string(open_dataset(f.get(), "images").get(), "encoding", "jpeg");
  return path;
}

std::vector<Batch> run_all(std::shared_ptr<const BatchSource> src, std::vector<std::vector<int64_t>> plan,
                           int64_t epoch, int threads, int prefetch = 3) {
  LoaderOptions opt;
  opt.threads = threads;
  opt.prefetch = prefetch;
  Loader loader(std::move(src), std::move(plan), epoch, opt);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(CoalesceRows, SplitsIntoConsecutiveRuns) {
  const auto runs = coalesce_rows({1, 2, 3, 7, 9, 10});
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0], std::make_pair(int64_t{1}, int64_t{4}));
  EXPECT_EQ(runs[1], std::make_pair(int64_t{7}, int64_t{8}));
  EXPECT_EQ(runs[2], std::make_pair(int64_t{9}, int64_t{11}));
}

TEST(RankBatches, EverySampleOnceOverRanksAndMatchesGlobalOrder) {
  const int64_t n = 103, g = 16;
  const std::vector<int64_t> order = epoch_permutation(n, 7, 2);
  std::vector<std::vector<std::vector<int64_t>>> per_rank;
  for (int64_t r = 0; r < 3; ++r) per_rank.push_back(rank_batches(n, 7, 2, g, 3, r));
  std::vector<int64_t> all;
  for (size_t s = 0; s < 7; ++s) {
    for (int64_t r = 0; r < 3; ++r) {
      ASSERT_LT(s, per_rank[r].size());
      all.insert(all.end(), per_rank[r][s].begin(), per_rank[r][s].end());
    }
  }
  EXPECT_EQ(all, order);  // global step s = ranks' parts in rank order = the permutation's positions
  EXPECT_EQ(per_rank[0][0].size(), 6u);
  EXPECT_EQ(per_rank[2][6].size(), 2u);  // last global batch: 7 samples split 3, 2, 2
  // Rank 1 of 2 with 3 micro-batches, resumed at step 5: step 5 = positions [80, 96), rank 1 has
  // [88, 96), micro-batches of 3, 3, 2; step 6 = [96, 103), rank 1 has [100, 103): 1, 1, 1.
  const auto resumed = rank_batches(n, 7, 2, g, 2, 1, 3, 5);
  ASSERT_EQ(resumed.size(), 6u);
  EXPECT_EQ(resumed[0], std::vector<int64_t>(order.begin() + 88, order.begin() + 91));
  EXPECT_EQ(resumed[2], std::vector<int64_t>(order.begin() + 94, order.begin() + 96));
  EXPECT_EQ(resumed[5], std::vector<int64_t>(order.begin() + 102, order.begin() + 103));
}

TEST(Loader, RawPassThroughGivesEveryImageOnceWithItsLabel) {
  const int64_t n = 37;
  ClassificationAugment aug;
  aug.size = 6;
  aug.random_resized_crop = false;
  aug.flip = false;
  auto src = std::make_shared<ClassificationSource>(write_raw(n, 6, 6), aug, 1);
  const auto batches = run_all(src, rank_batches(n, 1, 0, 8, 1, 0), 0, 2);
  ASSERT_EQ(batches.size(), 5u);
  std::set<int64_t> seen;
  for (size_t k = 0; k < batches.size(); ++k) {
    const Batch& b = batches[k];
    EXPECT_EQ(b.number, static_cast<int64_t>(k));
    ASSERT_EQ(b.inputs.shape(), (Shape{static_cast<int64_t>(b.indices.size()), 6, 6, 3}));
    for (size_t j = 0; j < b.indices.size(); ++j) {
      const int64_t i = b.indices[j];
      EXPECT_TRUE(seen.insert(i).second) << "sample " << i << " twice";
      EXPECT_EQ(b.labels.data<int32_t>()[j], i % kClasses);
      const Image want = make_image(i, 6, 6);
      EXPECT_EQ(std::memcmp(b.inputs.data<uint8_t>() + j * 108, want.pixels.data(), 108), 0) << "sample " << i;
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(n));
}

TEST(Loader, JpegBatchesAreBitIdenticalFor1To3Threads) {
  const int64_t n = 24;
  ClassificationAugment aug;
  aug.size = 16;
  auto src = std::make_shared<ClassificationSource>(write_jpeg(n, 24, 20), aug, 42, true);
  const auto plan = rank_batches(n, 42, 3, 5, 1, 0);
  const auto one = run_all(src, plan, 3, 1, 1);
  for (int threads : {2, 3}) {
    const auto many = run_all(src, plan, 3, threads, 4);
    ASSERT_EQ(many.size(), one.size());
    for (size_t k = 0; k < one.size(); ++k) {
      EXPECT_EQ(many[k].indices, one[k].indices);
      EXPECT_TRUE(same_bytes(many[k].inputs, one[k].inputs)) << threads << " threads, batch " << k;
      EXPECT_TRUE(same_bytes(many[k].labels, one[k].labels));
    }
  }
  // A different epoch draws different crops for the same sample.
  const auto other = run_all(src, {plan[0]}, 4, 1);
  EXPECT_FALSE(same_bytes(other[0].inputs, one[0].inputs));
  // Normalised f32 output stays in the range ImageNet statistics give.
  const float* p = one[0].inputs.data<float>();
  for (int64_t e = 0; e < one[0].inputs.numel(); ++e) ASSERT_TRUE(p[e] >= -2.2f && p[e] <= 2.7f) << p[e];
}

TEST(TensorPool, ReusesMatchingBuffersOnly) {
  TensorPool pool(1);
  Tensor a = pool.take({2, 3}, DType::kF32);
  void* p = a.raw_data();
  pool.give(std::move(a));
  EXPECT_NE(pool.take({3, 2}, DType::kF32).raw_data(), p);  // other shape: a new tensor
  Tensor b = pool.take({2, 3}, DType::kF32);
  EXPECT_EQ(b.raw_data(), p);
  pool.give(b);
  pool.give(Tensor::empty({2, 3}, DType::kF32));  // over capacity: dropped
  EXPECT_EQ(pool.take({2, 3}, DType::kF32).raw_data(), p);
  EXPECT_NE(pool.take({2, 3}, DType::kF32).raw_data(), p);
}

TEST(Loader, RecycledBuffersGiveTheSameBatches) {
  const int64_t n = 30;
  ClassificationAugment aug;
  aug.size = 12;
  auto src = std::make_shared<ClassificationSource>(write_jpeg(n, 16, 16), aug, 8, true);
  const auto plan = rank_batches(n, 8, 0, 4, 1, 0);
  const auto want = run_all(src, plan, 0, 2);
  LoaderOptions opt;
  opt.threads = 2;
  opt.prefetch = 2;
  Loader loader(src, plan, 0, opt);
  Batch b;
  for (size_t k = 0; loader.next(b); ++k) {
    ASSERT_LT(k, want.size());
    EXPECT_TRUE(same_bytes(b.inputs, want[k].inputs)) << "batch " << k;
    loader.recycle(std::move(b));
  }
}

TEST(Loader, QueueBoundIsRespected) {
  const int64_t n = 60;
  ClassificationAugment aug;
  aug.size = 4;
  aug.random_resized_crop = false;
  auto src = std::make_shared<ClassificationSource>(write_raw(n, 4, 4), aug, 1);
  std::atomic<int64_t> produced{0};
  LoaderOptions opt;
  opt.threads = 3;
  opt.prefetch = 2;
  opt.on_ready = [&](Batch&) { ++produced; };
  Loader loader(src, rank_batches(n, 1, 0, 3, 1, 0), 0, opt);
  Batch b;
  int64_t consumed = 0;
  while (loader.next(b)) {
    ++consumed;
    // Workers start a batch only while fewer than `prefetch` are in progress or waiting, so at
    // most `prefetch` batches beyond those handed out can exist.
    EXPECT_LE(produced.load(), consumed + opt.prefetch);
  }
  EXPECT_EQ(consumed, 20);
  EXPECT_EQ(produced.load(), 20);
  EXPECT_LE(loader.max_in_flight(), 2);
  EXPECT_GE(loader.max_in_flight(), 1);
}

TEST(Loader, CorruptJpegErrorNamesFileAndIndexAfterEarlierBatches) {
  const int64_t n = 12;
  const std::string path = write_jpeg(n, 16, 16, {7});
  ClassificationAugment aug;
  aug.size = 8;
  auto src = std::make_shared<ClassificationSource>(path, aug, 0);
  std::vector<std::vector<int64_t>> plan = {{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9, 10, 11}};
  LoaderOptions opt;
  opt.threads = 2;
  Loader loader(src, plan, 0, opt);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  ASSERT_TRUE(loader.next(b));
  test::expect_error([&] { loader.next(b); }, {path, "/images[7]", "batch 2"});
}

TEST(Loader, ReadsOnlyTheRanksShard) {
  const int64_t n = 40;
  const auto plan = rank_batches(n, 5, 0, 8, 2, 1);  // rank 1 of 2
  std::set<int64_t> mine;
  for (const auto& b : plan) mine.insert(b.begin(), b.end());
  std::set<int64_t> others;
  for (int64_t i = 0; i < n; ++i)
    if (mine.count(i) == 0) others.insert(i);
  // Every row outside the shard is corrupt: the rank must never touch them.
  ClassificationAugment aug;
  aug.size = 8;
  auto src = std::make_shared<ClassificationSource>(write_jpeg(n, 12, 12, others), aug, 5);
  const auto batches = run_all(src, plan, 0, 2);
  EXPECT_EQ(batches.size(), 5u);
  EXPECT_EQ(src->reader().rows_read(), 20);
  EXPECT_EQ(mine.size(), 20u);
}

// eeg/1 file: n epochs of C channels x T samples; channel c of epoch i is a ramp with offset.
std::string write_eeg(int64_t n, int64_t c, int64_t t, int64_t nan_row = -1) {
  const std::string path = test::temp_dir() + "/eeg.h5";
  H5Id f = create_file(path);
  write_attr_string(f.get(), "attncamp_schema", "eeg/1");
  write_attr_int(f.get(), "num_classes", 2);
  Tensor s = Tensor::empty({n, c, t}, DType::kF32);
  for (int64_t i = 0; i < s.numel(); ++i) s.data<float>()[i] = static_cast<float>((i % 17) * 0.5 + (i / t) % 5);
  if (nan_row >= 0) s.data<float>()[nan_row * c * t + 3] = NAN;
  write_tensor(f.get(), "signals", s);
  Tensor labels = Tensor::empty({n}, DType::kI32);
  for (int64_t i = 0; i < n; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>(i % 2);
  write_tensor(f.get(), "labels", labels);
  return path;
}

TEST(Loader, EegCropsStandardisesAndIsThreadIndependent) {
  EegAugment aug;
  aug.length = 20;
  aug.noise_std = 0.1f;
  auto src = std::make_shared<EegSource>(write_eeg(10, 3, 32), aug, 9);
  const auto plan = rank_batches(10, 9, 1, 4, 1, 0);
  const auto one = run_all(src, plan, 1, 1);
  const auto three = run_all(src, plan, 1, 3);
  ASSERT_EQ(one.size(), 3u);
  for (size_t k = 0; k < one.size(); ++k) EXPECT_TRUE(same_bytes(one[k].inputs, three[k].inputs));
  EXPECT_EQ(one[0].inputs.shape(), (Shape{4, 3, 20}));
  const float* x = one[0].inputs.data<float>();
  double mean = 0;
  for (int t = 0; t < 20; ++t) mean += x[t];
  EXPECT_NEAR(mean / 20, 0.0, 0.1);  // standardised, plus noise of std 0.1 (mean of 20: std 0.022)
  EXPECT_EQ(one[0].labels.data<int32_t>()[0], plan[0][0] % 2);
}

TEST(Loader, EegNonFiniteSignalNamesFileAndRow) {
  const std::string path = write_eeg(6, 2, 16, 4);
  auto src = std::make_shared<EegSource>(path, EegAugment{}, 0);
  LoaderOptions opt;
  opt.threads = 1;
  Loader loader(src, {{0, 1, 2}, {3, 4, 5}}, 0, opt);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  test::expect_error([&] { loader.next(b); }, {path, "/signals[4]", "non-finite"});
}

// detection/1 file: image i is (20 + 10 i) x 40 pixels, constant grey 100, with i + 1 boxes.
std::string write_detection(int64_t n) {
  DetectionData d;
  d.num_classes = 3;
  d.class_names = {"a", "b", "c"};
  d.category_ids = {1, 2, 3};
  d.box_offsets = {0};
  std::vector<std::vector<uint8_t>> jpegs;
  for (int64_t i = 0; i < n; ++i) {
    const int h = 20 + 10 * static_cast<int>(i), w = 40;
    d.image_ids.push_back(100 + i);
    d.image_sizes.insert(d.image_sizes.end(), {h, w});
    for (int64_t k = 0; k <= i; ++k) {
      d.boxes.insert(d.boxes.end(), {2.0f + k, 4.0f, 10.0f, 8.0f});
      d.box_labels.push_back(static_cast<int32_t>(k % 3));
      d.box_iscrowd.push_back(0);
      d.box_areas.push_back(80.0f);
    }
    d.box_offsets.push_back(static_cast<int64_t>(d.box_labels.size()));
    Image img;
    img.height = h;
    img.width = w;
    img.channels = 3;
    img.pixels.assign(static_cast<size_t>(h) * w * 3, 100);
    jpegs.push_back(encode_jpeg(img, 95, "test"));
  }
  const std::string path = test::temp_dir() + "/det.h5";
  H5Id f = create_file(path);
  write_detection_metadata(f.get(), d);
  create_vlen_bytes(f.get(), "images", n);
  write_vlen_bytes_rows(f.get(), "images", 0, jpegs);
  write_attr_string(open_dataset(f.get(), "images").get(), "encoding", "jpeg");
  return path;
}

TEST(Loader, DetectionBatchesArePaddedWithMasksAndFlatBoxes) {
  auto src = std::make_shared<DetectionSource>(write_detection(4), 80, true, 11);
  const auto batches = run_all(src, {{2, 0}, {1, 3}}, 0, 2);
  ASSERT_EQ(batches.size(), 2u);
  const Batch& b = batches[0];
  ASSERT_EQ(b.inputs.shape(), (Shape{2, 80, 80, 3}));
  ASSERT_EQ(b.mask.shape(), (Shape{2, 80, 80}));
  const int64_t* off = b.box_offsets.data<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(off, off + 3), (std::vector<int64_t>{0, 3, 4}));  // 3 boxes, then 1
  ASSERT_EQ(b.boxes.shape(), (Shape{4, 4}));
  // Image 2 is 40 x 40 -> scale 2, 80 x 80 (no padding); image 0 is 20 x 40 -> 40 x 80 (rows 40.. padded).
  int64_t ones0 = 0;
  for (int64_t p = 0; p < 6400; ++p) ones0 += b.mask.data<uint8_t>()[6400 + p];
  EXPECT_EQ(ones0, 40 * 80);
  EXPECT_EQ(b.mask.data<uint8_t>()[6400 + 39 * 80], 1);
  EXPECT_EQ(b.mask.data<uint8_t>()[6400 + 40 * 80], 0);
  EXPECT_NEAR(b.inputs.data<uint8_t>()[(80 * 80 + 10 * 80 + 10) * 3], 100, 2);  // image pixel
  EXPECT_EQ(b.inputs.data<uint8_t>()[(80 * 80 + 60 * 80 + 10) * 3], 0);         // padding
  // Box (2, 4, 10, 8) of image 0 scaled by 2 = (4, 8, 20, 16), mirrored if its flip draw says so.
  const bool flipped = SampleRng(11, 0, 0).uniform(0) < 0.5f;
  const float* box = b.boxes.data<float>() + 3 * 4;
  EXPECT_FLOAT_EQ(box[0], flipped ? 80 - 4 - 20 : 4);
  EXPECT_FLOAT_EQ(box[1], 8);
  EXPECT_FLOAT_EQ(box[2], 20);
  EXPECT_FLOAT_EQ(box[3], 16);
  EXPECT_EQ(b.box_labels.data<int32_t>()[3], 0);
  // Same batches with one thread.
  const auto one = run_all(src, {{2, 0}, {1, 3}}, 0, 1);
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_TRUE(same_bytes(one[k].inputs, batches[k].inputs));
    EXPECT_TRUE(same_bytes(one[k].boxes, batches[k].boxes));
  }
}

TEST(Loader, NormalizedDetectionBatchesMatchTheU8OnesWithZeroPadding) {
  const std::string path = write_detection(4);
  auto raw = std::make_shared<DetectionSource>(path, 80, true, 11);
  auto norm = std::make_shared<DetectionSource>(path, 80, true, 11, /*normalize=*/true);
  const auto a = run_all(raw, {{2, 0}, {1, 3}}, 0, 2);
  const auto b = run_all(norm, {{2, 0}, {1, 3}}, 0, 2);
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdev[3] = {0.229f, 0.224f, 0.225f};
  for (size_t k = 0; k < 2; ++k) {
    ASSERT_EQ(b[k].inputs.dtype(), DType::kF32);
    ASSERT_EQ(b[k].inputs.shape(), a[k].inputs.shape());
    EXPECT_TRUE(same_bytes(a[k].mask, b[k].mask));
    EXPECT_TRUE(same_bytes(a[k].boxes, b[k].boxes)) << "the flip draw and boxes do not depend on normalisation";
    const uint8_t* u = a[k].inputs.data<uint8_t>();
    const float* f = b[k].inputs.data<float>();
    const uint8_t* m = a[k].mask.data<uint8_t>();
    for (int64_t p = 0; p < a[k].mask.numel(); ++p) {
      for (int c = 0; c < 3; ++c) {
        const float want = m[p] ? (u[3 * p + c] / 255.0f - mean[c]) / stdev[c] : 0.0f;
        ASSERT_NEAR(f[3 * p + c], want, 1e-5f) << "batch " << k << " pixel " << p << " channel " << c;
      }
    }
  }
}

TEST(Loader, DestroyedMidPlanStopsCleanly) {
  ClassificationAugment aug;
  aug.size = 4;
  auto src = std::make_shared<ClassificationSource>(write_raw(50, 4, 4), aug, 1);
  for (int threads : {1, 3}) {
    LoaderOptions opt;
    opt.threads = threads;
    Loader loader(src, rank_batches(50, 1, 0, 2, 1, 0), 0, opt);
    Batch b;
    ASSERT_TRUE(loader.next(b));
    EXPECT_EQ(b.number, 0);
  }  // destructor joins workers blocked on the full queue
}

// Real ImageNet JPEGs (CMYK, grey and a PNG named .JPEG among them), converted by
// convert_imagenet, go through the loader: labels match the file, threads do not matter.
TEST(Loader, RealImagenetSampleLoadsIdenticallyWithOneOrTwoThreads) {
  const std::string in = test::data_dir() + "/imagenet/sample_1perclass";
  if (!std::filesystem::exists(in)) GTEST_SKIP() << "fixture data not found: " << in;
  ImagenetOptions o;
  o.input_dir = in;
  o.output = test::temp_dir() + "/imagenet.h5";
  o.size = 48;
  const ConvertSummary sum = convert_imagenet(o);
  ASSERT_EQ(sum.written, 109);
  ClassificationAugment aug;
  aug.size = 32;
  auto src = std::make_shared<ClassificationSource>(o.output, aug, 3);
  const auto plan = rank_batches(src->size(), 3, 0, 16, 1, 0);
  const auto one = run_all(src, plan, 0, 1);
  const auto two = run_all(src, plan, 0, 2);
  ASSERT_EQ(one.size(), 7u);
  int64_t seen = 0;
  for (size_t k = 0; k < one.size(); ++k) {
    EXPECT_TRUE(same_bytes(one[k].inputs, two[k].inputs)) << "batch " << k;
    for (size_t j = 0; j < one[k].indices.size(); ++j) {
      EXPECT_EQ(one[k].labels.data<int32_t>()[j], src->reader().labels()[one[k].indices[j]]);
    }
    seen += static_cast<int64_t>(one[k].indices.size());
  }
  EXPECT_EQ(seen, 109);
}

TEST(ShardReader, BadFilesGiveOneLineErrors) {
  test::expect_error([] { ClassificationShardReader("/nonexistent/x.h5"); }, {"/nonexistent/x.h5"});
  const std::string eeg = write_eeg(2, 1, 4);
  test::expect_error([&] { ClassificationShardReader r(eeg); }, {eeg, "attncamp_schema", "classification/1"});
  ClassificationAugment aug;
  auto src = std::make_shared<ClassificationSource>(write_raw(4, 4, 4), aug, 0);
  test::expect_error([&] { src->reader().read({1, 9}); }, {"raw.h5", "index 9", "outside [0, 4)"});
}

}  // namespace
}  // namespace attncamp::data
