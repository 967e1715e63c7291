// Whole-model gradient checks: a tiny ViT in double precision, analytic
// gradients of a cross-entropy loss against central finite differences, for
// class-token and attention pooling, with dropout active (its Philox masks are
// fixed by seed and step, so the loss is a deterministic function).
#include <gtest/gtest.h>

#include <cmath>

#include "models/vit.h"
#include "ops/cross_entropy.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using models::ForwardContext;
using models::Pooling;
using models::VisionTransformer;
using models::VitConfig;

constexpr double kGradTol = 1e-6;  // relative to the largest gradient magnitude (f64, eps 1e-6)

VitConfig tiny_config(Pooling pooling, double dropout) {
  VitConfig c;
  c.image_size = 8;
  c.channels = 2;
  c.patch = 4;
  c.dim = 8;
  c.depth = 2;
  c.heads = 2;
  c.mlp_dim = 16;
  c.num_classes = 3;
  c.pooling = pooling;
  c.attn_pool_dim = 6;
  c.dropout = dropout;
  c.pixel_mean = {0.5, 0.4};  // per channel
  c.pixel_std = {0.25, 0.3};
  return c;
}

void check_model_gradient(Pooling pooling, double dropout) {
  VisionTransformer model(tiny_config(pooling, dropout), DType::kF64);
  model.initialize(3);
  // Larger-than-default init so every path carries a visible gradient.
  double* p = model.params().values().data<double>();
  for (int64_t i = 0; i < model.params().numel(); ++i) p[i] += 0.3 * philox_normal(11, 5, i);

  Tensor images = test::random_tensor({3, 8, 8, 2}, DType::kF64, 21, 0.0, 1.0);
  Tensor labels = Tensor::empty({3}, DType::kI32);
  labels.data<int32_t>()[0] = 2;
  labels.data<int32_t>()[1] = 0;
  labels.data<int32_t>()[2] = 1;
  ForwardContext ctx{true, 77, 5};
  Tensor losses = Tensor::empty({3}, DType::kF64);
  Tensor dlogits = Tensor::empty({3, 3}, DType::kF64);

  auto loss = [&]() {
    const Tensor& logits = model.forward(images, ctx);
    Tensor none;
    ops::cross_entropy_forward_backward(logits, labels, 0.1, 1.0 / 3, losses, none);
    double s = 0;
    for (int i = 0; i < 3; ++i) s += losses.data<double>()[i];
    return s / 3;
  };

  model.params().zero_grad();
  const Tensor& logits = model.forward(images, ctx);
  ops::cross_entropy_forward_backward(logits, labels, 0.1, 1.0 / 3, losses, dlogits);
  model.backward(dlogits);
  Tensor analytic = model.params().grads().clone();

  Tensor numeric = test::numerical_gradient(loss, model.params().values());
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
    EXPECT_LE(worst, kGradTol * std::max(1.0, scale)) << prm->name;
    EXPECT_GT(grad_mag, 0.0) << prm->name << " receives no gradient";
  }
}

TEST(VitGradient, ClassTokenMatchesFiniteDifferences) { check_model_gradient(Pooling::kClassToken, 0.0); }

TEST(VitGradient, AttentionPoolingMatchesFiniteDifferences) { check_model_gradient(Pooling::kAttention, 0.0); }

TEST(VitGradient, WithDropoutMatchesFiniteDifferences) { check_model_gradient(Pooling::kClassToken, 0.2); }

TEST(Vit, InitializationIsDeterministicAndRegistered) {
  VisionTransformer a(tiny_config(Pooling::kClassToken, 0.0));
  VisionTransformer b(tiny_config(Pooling::kClassToken, 0.0));
  a.initialize(9);
  b.initialize(9);
  EXPECT_EQ(test::max_abs_diff(a.params().values(), b.params().values()), 0.0);
  // Registration order: patch embedding first, head last; biases/norms/tokens not decayed.
  const auto& ps = a.params().params();
  EXPECT_EQ(ps.front()->name, "patch_embed.proj.weight");
  EXPECT_EQ(ps.back()->name, "head.bias");
  for (const auto& prm : ps) {
    const bool is_weight =
        prm->name.find(".weight") != std::string::npos && prm->name.find("norm") == std::string::npos;
    EXPECT_EQ(prm->weight_decay, is_weight) << prm->name;
  }
  int64_t total = 0;
  for (const auto& prm : ps) total += shape_numel(prm->shape);
  EXPECT_EQ(total, a.params().numel());
  // The store handed out one dropout site per attention and per MLP, in block order.
  EXPECT_EQ(a.params().dropout_sites(), 2 * tiny_config(Pooling::kClassToken, 0.0).depth);
  EXPECT_EQ(a.kind(), "vit");
  EXPECT_EQ(a.num_classes(), 3);
}

// Dropout sites come from the store: each Dropout registered with a store draws the next one, so
// two layers never share masks, and a store refuses more than it can keep apart.
TEST(ParamStore, HandsOutDistinctDropoutSites) {
  models::ParamStore store;
  models::Dropout d0(store, 0.1), d1(store, 0.1);
  EXPECT_EQ(store.dropout_sites(), 2);
  for (int i = 2; i < models::kMaxDropoutSites; ++i) store.add_dropout_site();
  test::expect_error([&] { store.add_dropout_site(); }, {"at most", "256", "dropout sites"});
}

}  // namespace
}  // namespace attncamp
