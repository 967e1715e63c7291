// Tests for the ViT token ops: patchify against a plain loop (u8, f32, f64 images),
// prepend/position/select forward values and finite-difference gradients in f64, and checks
// (including the message for image sizes not divisible by the patch).
#include "ops/tokens.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/test_util.h"

namespace attncamp {
namespace {

// The token ops are linear copies and sums: analytic and numerical gradients agree to
// rounding of the central difference (~1e-10).
constexpr double kGradTol = 1e-8;

Tensor diff(const Tensor& a, const Tensor& b) {
  Tensor d = a.clone();
  for (int64_t i = 0; i < d.numel(); ++i) d.data<double>()[i] -= b.data<double>()[i];
  return d;
}

// One mean/std for every channel, and one per channel.
TEST(Patchify, MatchesReferenceLoop) {
  const int64_t b = 2, h = 6, w = 9, c = 2;
  const int p = 3;
  Tensor u8 = Tensor::empty({b, h, w, c}, DType::kU8);
  for (int64_t i = 0; i < u8.numel(); ++i) u8.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37) % 256);
  const Tensor f64 = test::random_tensor({b, h, w, c}, DType::kF64, 1);
  const Tensor f32 = test::to_dtype(f64, DType::kF32);
  struct Norm {
    std::vector<double> mean, std;
  };
  for (const Norm& nm : {Norm{{0.25}, {0.5}}, Norm{{0.25, -0.4}, {0.5, 0.2}}}) {
    for (const Tensor* img : {static_cast<const Tensor*>(&u8), &f32, &f64}) {
      const DType ot = img->dtype() == DType::kF64 ? DType::kF64 : DType::kF32;
      Tensor out = Tensor::empty({b, (h / p) * (w / p), p * p * c}, ot);
      out.poison();
      ops::patchify(*img, p, nm.mean, nm.std, out);
      const int64_t gw = w / p;
      for (int64_t bi = 0; bi < b; ++bi) {
        for (int64_t y = 0; y < h; ++y) {
          for (int64_t x = 0; x < w; ++x) {
            for (int64_t ci = 0; ci < c; ++ci) {
              const int64_t src = ((bi * h + y) * w + x) * c + ci;
              double v;
              if (img->dtype() == DType::kU8) {
                v = img->data<uint8_t>()[src] / 255.0;
              } else if (img->dtype() == DType::kF32) {
                v = img->data<float>()[src];
              } else {
                v = img->data<double>()[src];
              }
              const int64_t patch = (y / p) * gw + x / p;
              const int64_t dst = (bi * (h / p) * gw + patch) * (p * p * c) + ((y % p) * p + x % p) * c + ci;
              const double got = ot == DType::kF32 ? out.data<float>()[dst] : out.data<double>()[dst];
              const double mean = nm.mean[nm.mean.size() == 1 ? 0 : ci], std = nm.std[nm.std.size() == 1 ? 0 : ci];
              ASSERT_NEAR(got, (v - mean) / std, ot == DType::kF32 ? 1e-6 : 1e-15);
            }
          }
        }
      }
    }
  }
}

TEST(Patchify, BadArgumentsThrow) {
  const Tensor img = Tensor::zeros({1, 28, 28, 1}, DType::kU8);
  Tensor out = Tensor::zeros({1, 16, 49});
  EXPECT_NO_THROW(ops::patchify(img, 7, 0.0, 1.0, out));
  try {
    Tensor out5 = Tensor::zeros({1, 25, 25});
    ops::patchify(img, 5, 0.0, 1.0, out5);
    ADD_FAILURE() << "expected an error for 28x28 images and patch 5";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("28x28"), std::string::npos) << e.what();
  }
  Tensor out_f64 = Tensor::zeros({1, 16, 49}, DType::kF64), out_bad = Tensor::zeros({1, 16, 48});
  EXPECT_THROW(ops::patchify(img, 7, 0.0, 1.0, out_f64), Error);
  EXPECT_THROW(ops::patchify(img, 7, 0.0, 1.0, out_bad), Error);
  EXPECT_THROW(ops::patchify(img, 7, 0.0, 0.0, out), Error);
  // Per-channel values: one, or one per channel.
  test::expect_error(
      [&] {
        ops::patchify(img, 7, std::vector<double>{0, 0}, std::vector<double>{1}, out);
      },
      {"patchify", "mean has 2 values for images of 1 channels"});
  test::expect_error([&] { ops::patchify(img, 7, std::vector<double>{0}, std::vector<double>{-1}, out); },
                     {"patchify", "std must be positive; got -1"});
  EXPECT_THROW(ops::patchify(Tensor::zeros({28, 28, 1}, DType::kU8), 7, 0.0, 1.0, out), Error);
}

TEST(Tokens, PrependTokenForwardAndGradients) {
  const int64_t b = 2, s = 3, d = 4;
  Tensor x = test::random_tensor({b, s, d}, DType::kF64, 10);
  Tensor tok = test::random_tensor({d}, DType::kF64, 11);
  Tensor y = Tensor::empty({b, s + 1, d}, DType::kF64);
  y.poison();
  ops::prepend_token_forward(x, tok, y);
  for (int64_t bi = 0; bi < b; ++bi) {
    for (int64_t j = 0; j < d; ++j) {
      EXPECT_EQ(y.data<double>()[(bi * (s + 1)) * d + j], tok.data<double>()[j]);
      for (int64_t si = 0; si < s; ++si) {
        EXPECT_EQ(y.data<double>()[(bi * (s + 1) + si + 1) * d + j], x.data<double>()[(bi * s + si) * d + j]);
      }
    }
  }
  const Tensor wt = test::random_tensor(y.shape(), DType::kF64, 12);
  auto loss = [&] {
    ops::prepend_token_forward(x, tok, y);
    return test::weighted_sum(y, wt);
  };
  Tensor dx = Tensor::empty(x.shape(), DType::kF64);
  dx.poison();
  const Tensor dtok0 = test::random_tensor({d}, DType::kF64, 13);
  Tensor dtok = dtok0.clone();
  ops::prepend_token_backward(wt, dx, dtok);
  EXPECT_LE(test::max_abs_diff(dx, test::numerical_gradient(loss, x)), kGradTol);
  EXPECT_LE(test::max_abs_diff(diff(dtok, dtok0), test::numerical_gradient(loss, tok)), kGradTol);
}

TEST(Tokens, AddPositionForwardAndGradient) {
  const int64_t b = 3, s = 5, d = 4;
  const Tensor x0 = test::random_tensor({b, s, d}, DType::kF64, 20);
  Tensor pos = test::random_tensor({s, d}, DType::kF64, 21);
  Tensor x = x0.clone();
  ops::add_position_forward(x, pos);
  for (int64_t i = 0; i < x.numel(); ++i) {
    EXPECT_EQ(x.data<double>()[i], x0.data<double>()[i] + pos.data<double>()[i % (s * d)]);
  }
  const Tensor wt = test::random_tensor({b, s, d}, DType::kF64, 22);
  auto loss = [&] {
    Tensor t = x0.clone();
    ops::add_position_forward(t, pos);
    return test::weighted_sum(t, wt);
  };
  const Tensor dpos0 = test::random_tensor({s, d}, DType::kF64, 23);
  Tensor dpos = dpos0.clone();
  ops::add_position_backward(wt, dpos);
  EXPECT_LE(test::max_abs_diff(diff(dpos, dpos0), test::numerical_gradient(loss, pos)), kGradTol);
  // f32 against f64 on a training-sized batch.
  const Tensor dy = test::random_tensor({128, 50, 64}, DType::kF64, 24);
  Tensor g64 = Tensor::zeros({50, 64}, DType::kF64), g32 = Tensor::zeros({50, 64});
  ops::add_position_backward(dy, g64);
  ops::add_position_backward(test::to_dtype(dy, DType::kF32), g32);
  EXPECT_LE(test::max_abs_diff(g32, g64), 1e-4);  // f32 sums of 128 terms of size 1
}

TEST(Tokens, SelectTokenForwardAndGradient) {
  const int64_t b = 2, s = 4, d = 3, index = 2;
  Tensor x = test::random_tensor({b, s, d}, DType::kF64, 30);
  Tensor y = Tensor::empty({b, d}, DType::kF64);
  y.poison();
  ops::select_token_forward(x, index, y);
  for (int64_t bi = 0; bi < b; ++bi) {
    for (int64_t j = 0; j < d; ++j) EXPECT_EQ(y.data<double>()[bi * d + j], x.data<double>()[(bi * s + index) * d + j]);
  }
  const Tensor wt = test::random_tensor({b, d}, DType::kF64, 31);
  auto loss = [&] {
    ops::select_token_forward(x, index, y);
    return test::weighted_sum(y, wt);
  };
  Tensor dx = Tensor::empty(x.shape(), DType::kF64);
  dx.poison();
  ops::select_token_backward(wt, index, dx);
  EXPECT_LE(test::max_abs_diff(dx, test::numerical_gradient(loss, x)), kGradTol);
}

TEST(Tokens, BadShapesThrow) {
  const Tensor x = Tensor::zeros({2, 3, 4});
  Tensor y_bad = Tensor::zeros({2, 3, 4}), tok_bad = Tensor::zeros({3});
  EXPECT_THROW(ops::prepend_token_forward(x, Tensor::zeros({4}), y_bad), Error);
  EXPECT_THROW(ops::prepend_token_forward(x, tok_bad, y_bad), Error);
  Tensor dx = Tensor::zeros({2, 3, 4}), dtok = Tensor::zeros({4}), dx_bad = Tensor::zeros({2, 2, 4});
  EXPECT_NO_THROW(ops::prepend_token_backward(Tensor::zeros({2, 4, 4}), dx, dtok));
  EXPECT_THROW(ops::prepend_token_backward(Tensor::zeros({2, 4, 4}), dx_bad, dtok), Error);
  Tensor xm = x.clone();
  EXPECT_THROW(ops::add_position_forward(xm, Tensor::zeros({4, 4})), Error);
  Tensor dpos_bad = Tensor::zeros({3, 5});
  EXPECT_THROW(ops::add_position_backward(x, dpos_bad), Error);
  Tensor y = Tensor::zeros({2, 4});
  EXPECT_NO_THROW(ops::select_token_forward(x, 0, y));
  EXPECT_THROW(ops::select_token_forward(x, 3, y), Error);
  EXPECT_THROW(ops::select_token_forward(x, -1, y), Error);
  EXPECT_THROW(ops::select_token_backward(Tensor::zeros({2, 5}), 0, dx), Error);
  EXPECT_THROW(ops::select_token_forward(Tensor::zeros({2, 12}), 0, y), Error);
}

}  // namespace
}  // namespace attncamp
