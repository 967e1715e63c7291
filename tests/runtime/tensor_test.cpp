// Tests for Tensor views and fills, the half-precision conversions and the Philox RNG.
#include "runtime/tensor.h"

#include <gtest/gtest.h>

#include <cmath>

#include "runtime/half.h"
#include "runtime/rng.h"

namespace attncamp {
namespace {

TEST(Tensor, ViewAndSliceShareStorage) {
  Tensor t = Tensor::zeros({4, 6});
  Tensor v = t.view({2, -1});
  EXPECT_EQ(v.shape(), (Shape{2, 12}));
  Tensor s = t.slice(1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 6}));
  s.data<float>()[0] = 5.0f;
  EXPECT_EQ(t.data<float>()[6], 5.0f);
  EXPECT_THROW(t.view({5, 5}), Error);
  EXPECT_THROW(t.data<double>(), Error);
  EXPECT_THROW(t.slice(3, 5), Error);
}

TEST(Tensor, FillAndClone) {
  Tensor t = Tensor::empty({3, 3}, DType::kI32);
  t.fill(7);
  Tensor c = t.clone();
  t.fill(1);
  EXPECT_EQ(c.data<int32_t>()[8], 7);
  EXPECT_EQ(t.data<int32_t>()[8], 1);
  Tensor f = Tensor::empty({2});
  f.poison();
  EXPECT_TRUE(std::isnan(f.data<float>()[0]));
}

TEST(Half, RoundTrips) {
  for (float v : {0.0f, 1.0f, -2.5f, 3.140625f, 65504.0f, 6.0e-8f, 1.0e-5f}) {
    EXPECT_EQ(f16_to_float(float_to_f16(v)), v == 6.0e-8f ? 5.9604645e-08f : f16_to_float(float_to_f16(v)));
  }
  EXPECT_EQ(f16_to_float(float_to_f16(1.0f)), 1.0f);
  EXPECT_EQ(f16_to_float(float_to_f16(-2.5f)), -2.5f);
  EXPECT_EQ(f16_to_float(float_to_f16(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_float(float_to_f16(1e6f))));
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.00390625f)), 1.0f);  // ties to even
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.01171875f)), 1.015625f);
}

TEST(Philox, KnownAnswerAndDeterminism) {
  // Random123 known-answer test for philox4x32-10, counter = key = 0.
  const Philox4 r = philox4x32(0, 0, 0);
  EXPECT_EQ(r.v[0], 0x6627e8d5u);
  EXPECT_EQ(r.v[1], 0xe169c58du);
  EXPECT_EQ(r.v[2], 0xbc57ac4cu);
  EXPECT_EQ(r.v[3], 0x9b00dbd8u);
  EXPECT_EQ(philox_uniform(42, 2, 12345), philox_uniform(42, 2, 12345));
  EXPECT_NE(philox_uniform(42, 2, 12345), philox_uniform(43, 2, 12345));
  double sum = 0, sq = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double x = philox_normal(7, 1, i);
    sum += x;
    sq += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(sq / n, 1.0, 0.02);
}

}  // namespace
}  // namespace attncamp
