// The detector (models/detector.h): its whole gradient against central finite differences on a
// tiny configuration in double precision (with and without region attention), the independence of
// images within a batch (what makes data-parallel splits exact), and inference's output contract.
#include "models/detector.h"

#include <gtest/gtest.h>

#include <cmath>

#include "runtime/rng.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using models::DetectorBatch;
using models::DetectorConfig;
using models::ForwardContext;

DetectorConfig tiny_config(bool region_attention) {
  DetectorConfig c;
  c.image_size = 16;
  c.channels = 3;
  c.patch = 4;
  c.dim = 8;
  c.depth = 1;
  c.heads = 2;
  c.mlp_dim = 16;
  c.num_classes = 3;
  c.anchor_sizes = {4, 8};
  c.aspect_ratios = {1.0};
  c.rpn_batch_per_image = 16;
  c.rpn_post_nms_train = 6;
  c.roi_size = 2;
  c.box_head_dim = 8;
  c.roi_batch_per_image = 8;
  c.region_attention = region_attention;
  c.region_heads = 2;
  return c;
}

// Two images with three boxes: image 0 is the whole canvas, image 1 a 16x12 letterboxed one.
DetectorBatch tiny_batch(DType dtype) {
  DetectorBatch b;
  b.images = test::random_tensor({2, 16, 16, 3}, dtype, 21, 0.0, 1.0);
  b.extents = {{16, 16}, {16, 12}};
  b.keys = {5, 9};
  b.offsets = {0, 2, 3};
  b.boxes = {2, 2, 9, 8, 8, 6, 15, 14, 1, 1, 7, 12};
  b.labels = {0, 2, 1};
  return b;
}

void perturb(models::Detector& model) {
  double* p = model.params().values().data<double>();
  for (int64_t i = 0; i < model.params().numel(); ++i) p[i] += 0.3 * philox_normal(11, 5, i);
}

void check_detector_gradient(bool region_attention) {
  models::Detector model(tiny_config(region_attention), DType::kF64);
  model.initialize(3);
  perturb(model);
  const DetectorBatch batch = tiny_batch(DType::kF64);
  const ForwardContext ctx{true, 77, 5};
  model.params().zero_grad();
  const models::DetectorLosses losses = model.forward_train(batch, ctx, 0.5);
  // Every term is present, so every module is checked.
  EXPECT_GT(losses.rpn_objectness, 0.0);
  EXPECT_GT(losses.rpn_box, 0.0);
  EXPECT_GT(losses.roi_class, 0.0);
  EXPECT_GT(losses.roi_box, 0.0);
  ASSERT_EQ(losses.per_image.size(), 2u);
  EXPECT_NEAR(losses.per_image[0] + losses.per_image[1], losses.total(), 1e-12);
  model.backward();
  const Tensor analytic = model.params().grads().clone();
  // Proposals are constants of the loss (no gradient flows through their selection or decoding, as
  // in Faster R-CNN), so the finite differences hold them fixed.
  const models::Proposals fixed = model.proposals();
  for (const Tensor& p : fixed) EXPECT_GT(p.size(0), 0);
  auto loss = [&]() { return 0.5 * model.forward_train(batch, ctx, 0.5, &fixed).total(); };
  const Tensor numeric = test::numerical_gradient(loss, model.params().values());
  double scale = 0;
  for (int64_t i = 0; i < numeric.numel(); ++i) scale = std::max(scale, std::fabs(numeric.data<double>()[i]));
  ASSERT_GT(scale, 1e-3);
  for (const auto& prm : model.params().params()) {
    const int64_t n = shape_numel(prm->shape);
    double worst = 0, grad_mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double a = analytic.data<double>()[prm->offset + i];
      const double b = numeric.data<double>()[prm->offset + i];
      worst = std::max(worst, std::fabs(a - b));
      grad_mag = std::max(grad_mag, std::fabs(b));
    }
    EXPECT_LE(worst, 1e-6 * std::max(1.0, scale)) << prm->name;
    EXPECT_GT(grad_mag, 0.0) << prm->name << " receives no gradient";
  }
}

TEST(DetectorGradient, WithRegionAttentionMatchesFiniteDifferences) { check_detector_gradient(true); }

TEST(DetectorGradient, WithoutRegionAttentionMatchesFiniteDifferences) { check_detector_gradient(false); }

// The ablation removes exactly the region-attention block's parameters.
TEST(Detector, RegionAttentionOffRemovesOnlyItsBlock) {
  models::Detector on(tiny_config(true)), off(tiny_config(false));
  int64_t block = 0;
  for (const auto& p : on.params().params()) {
    if (p->name.rfind("roi.region_attention.", 0) == 0) block += shape_numel(p->shape);
  }
  EXPECT_GT(block, 0);
  EXPECT_EQ(on.params().numel() - off.params().numel(), block);
  for (const auto& p : off.params().params()) EXPECT_EQ(p->name.find("region_attention"), std::string::npos);
}

// Images do not interact: the batch's gradient is the sum of each image's, losses are per image,
// so a batch split over ranks (or micro-batches) gives the same result.
TEST(Detector, BatchEqualsItsImagesSeparately) {
  models::Detector model(tiny_config(true), DType::kF64);
  model.initialize(3);
  perturb(model);
  const DetectorBatch batch = tiny_batch(DType::kF64);
  const ForwardContext ctx{true, 77, 5};
  model.params().zero_grad();
  const models::DetectorLosses whole = model.forward_train(batch, ctx, 1.0);
  model.backward();
  const Tensor grad_whole = model.params().grads().clone();
  model.params().zero_grad();
  double sum = 0;
  for (int i = 0; i < 2; ++i) {
    DetectorBatch one;
    one.images = batch.images.slice(i, i + 1).clone();
    one.extents = {batch.extents[i]};
    one.keys = {batch.keys[i]};
    one.offsets = {0, batch.offsets[i + 1] - batch.offsets[i]};
    one.boxes.assign(batch.boxes.begin() + 4 * batch.offsets[i], batch.boxes.begin() + 4 * batch.offsets[i + 1]);
    one.labels.assign(batch.labels.begin() + batch.offsets[i], batch.labels.begin() + batch.offsets[i + 1]);
    const models::DetectorLosses l = model.forward_train(one, ctx, 1.0);
    EXPECT_NEAR(l.total(), whole.per_image[i], 1e-12);
    sum += l.total();
    model.backward();
  }
  EXPECT_NEAR(sum, whole.total(), 1e-12);
  EXPECT_LE(test::max_abs_diff(grad_whole, model.params().grads()), 1e-12);
}

// Detections: at most detections_per_image per image, scores descending above the threshold,
// labels in range, boxes inside the image's extent; the same twice (deterministic).
TEST(Detector, DetectsWithinTheImage) {
  DetectorConfig c = tiny_config(true);
  c.detections_per_image = 5;
  c.score_threshold = 0.0;
  models::Detector model(c);
  model.initialize(3);
  DetectorBatch batch = tiny_batch(DType::kF32);
  const auto dets = model.detect(batch, ForwardContext{});
  ASSERT_EQ(dets.size(), 2u);
  size_t total = 0;
  for (size_t i = 0; i < dets.size(); ++i) {
    EXPECT_LE(dets[i].size(), 5u);
    total += dets[i].size();
    for (size_t j = 0; j < dets[i].size(); ++j) {
      const models::Detection& d = dets[i][j];
      if (j > 0) {
        EXPECT_LE(d.score, dets[i][j - 1].score);
      }
      EXPECT_GE(d.label, 0);
      EXPECT_LT(d.label, 3);
      EXPECT_GE(d.box[0], 0.0f);
      EXPECT_GE(d.box[1], 0.0f);
      EXPECT_LE(d.box[2], static_cast<float>(batch.extents[i].width));
      EXPECT_LE(d.box[3], static_cast<float>(batch.extents[i].height));
      EXPECT_LT(d.box[0], d.box[2]);
      EXPECT_LT(d.box[1], d.box[3]);
    }
  }
  EXPECT_GT(total, 0u);
  const auto again = model.detect(batch, ForwardContext{});
  for (size_t i = 0; i < dets.size(); ++i) {
    ASSERT_EQ(again[i].size(), dets[i].size());
    for (size_t j = 0; j < dets[i].size(); ++j) EXPECT_EQ(again[i][j].box, dets[i][j].box);
  }
}

TEST(Detector, RejectsBadBatches) {
  models::Detector model(tiny_config(true));
  model.initialize(3);
  DetectorBatch batch = tiny_batch(DType::kF32);
  batch.labels[2] = 3;
  test::expect_error(
      [&] {
        model.forward_train(batch, ForwardContext{true, 1, 1}, 1.0);
      },
      {"box label [2] = 3", "[0, 3)"});
  batch = tiny_batch(DType::kF32);
  batch.images = Tensor::zeros({2, 8, 8, 3});
  test::expect_error([&] { model.detect(batch, ForwardContext{}); }, {"expects images [B,16,16,3]", "[2,8,8,3]"});
}

}  // namespace
}  // namespace attncamp
