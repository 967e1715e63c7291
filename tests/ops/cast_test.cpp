// Tests for ops::cast: exact roundings at ties and boundaries (bf16, f16, f32 from f64), round
// trips that must be lossless, agreement with the test helpers' conversions, argument checks
// (all without a GPU), and on a GPU bit-identical results to the CPU for every dtype pair.
#include "ops/cast.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "runtime/half.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

constexpr DType kFloatTypes[] = {DType::kF32, DType::kF64, DType::kBF16, DType::kF16};

Tensor f64_tensor(const std::vector<double>& v) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, DType::kF64);
  for (size_t i = 0; i < v.size(); ++i) t.data<double>()[i] = v[i];
  return t;
}

Tensor cast_to(const Tensor& src, DType dt) {
  Tensor dst = Tensor::empty(src.shape(), dt, src.device());
  dst.poison();
  ops::cast(src, dst);
  return dst;
}

// Element values of a CPU float tensor, as doubles.
std::vector<double> values(const Tensor& t) {
  const Tensor d = test::to_host_f64(t);
  return std::vector<double>(d.data<double>(), d.data<double>() + d.numel());
}

// Raw bytes equal (bit-identical tensors, NaN payloads included).
bool same_bits(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(Cast, Bf16RoundsToNearestEven) {
  // Half an ulp of bf16 (7 fraction bits) at 1, and the largest finite bf16.
  const double u = std::ldexp(1.0, -8);
  const double max = (2 - std::ldexp(1.0, -7)) * std::ldexp(1.0, 127);
  const Tensor src = f64_tensor({1 + u, 1 + 3 * u, 1 + u + std::ldexp(1.0, -20), -(1 + u), 1 - u, max,
                                 (2 - std::ldexp(1.0, -8)) * std::ldexp(1.0, 127), 0.0, 1 - u / 2});
  for (DType st : {DType::kF64, DType::kF32}) {
    const std::vector<double> got = values(cast_to(cast_to(src, st), DType::kBF16));
    EXPECT_EQ(got[0], 1.0);        // tie: down to the even mantissa
    EXPECT_EQ(got[1], 1 + 4 * u);  // tie: up to the even mantissa
    EXPECT_EQ(got[2], 1 + 2 * u);  // just above the tie: up
    EXPECT_EQ(got[3], -1.0);       // ties to even for negatives too
    EXPECT_EQ(got[4], 1 - u);      // representable: below 1 the ulp is 2^-8
    EXPECT_EQ(got[5], max);
    EXPECT_EQ(got[6], std::numeric_limits<double>::infinity());  // the tie above the largest overflows
    EXPECT_EQ(got[7], 0.0);
    EXPECT_EQ(got[8], 1.0);  // tie between 1 - 2^-8 (odd) and 1 (even), across the binade
  }
}

TEST(Cast, F16RoundsToNearestEvenWithSubnormalsAndOverflow) {
  const double u = std::ldexp(1.0, -11);  // half an ulp of f16 at 1 (10 fraction bits)
  const Tensor src = f64_tensor({1 + u, 1 + 3 * u, 65504.0, 65519.0, 65520.0, -70000.0, 1e-7, std::ldexp(1.0, -25)});
  const std::vector<double> got = values(cast_to(src, DType::kF16));
  EXPECT_EQ(got[0], 1.0);
  EXPECT_EQ(got[1], 1 + 4 * u);
  EXPECT_EQ(got[2], 65504.0);  // largest f16
  EXPECT_EQ(got[3], 65504.0);
  EXPECT_EQ(got[4], std::numeric_limits<double>::infinity());  // the tie above 65504 overflows
  EXPECT_EQ(got[5], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(got[6], 2 * std::ldexp(1.0, -24));  // subnormal: 1e-7 = 1.68 * 2^-24
  EXPECT_EQ(got[7], 0.0);                       // 2^-25: tie between 0 and 2^-24, to even
}

TEST(Cast, F64ToF32RoundsToNearestEven) {
  const double u = std::ldexp(1.0, -24);
  const std::vector<double> got = values(cast_to(f64_tensor({1 + u, 1 + 3 * u, 0.1}), DType::kF32));
  EXPECT_EQ(got[0], 1.0);
  EXPECT_EQ(got[1], 1 + 4 * u);
  EXPECT_EQ(got[2], static_cast<double>(0.1f));
}

TEST(Cast, WideningRoundTripsAreLossless) {
  const Tensor r = test::random_tensor({1001}, DType::kF64, 1, -100, 100);
  for (DType narrow : kFloatTypes) {
    const Tensor n = test::to_dtype(r, narrow);
    for (DType wide : kFloatTypes) {
      if (dtype_size(wide) < dtype_size(narrow) || (wide != narrow && dtype_size(wide) == dtype_size(narrow))) continue;
      const Tensor back = cast_to(cast_to(n, wide), narrow);
      EXPECT_TRUE(same_bits(back, n)) << dtype_name(narrow) << " via " << dtype_name(wide);
    }
  }
}

TEST(Cast, AgreesWithTestConversionsForEveryPair) {
  const Tensor r = test::random_tensor({3, 333}, DType::kF64, 2, -1e5, 1e5);
  for (DType st : kFloatTypes) {
    const Tensor src = test::to_dtype(r, st);
    for (DType dt : kFloatTypes) {
      EXPECT_TRUE(same_bits(cast_to(src, dt), test::to_dtype(src, dt))) << dtype_name(st) << " -> " << dtype_name(dt);
    }
  }
}

TEST(Cast, SameDtypeCopiesAndInPlaceIsANoOp) {
  Tensor a = test::random_tensor({17}, DType::kF32, 3);
  const Tensor before = a.clone();
  ops::cast(a, a);
  EXPECT_TRUE(same_bits(a, before));
  EXPECT_TRUE(same_bits(cast_to(a, DType::kF32), before));
}

TEST(Cast, Errors) {
  const Tensor a = Tensor::zeros({4, 3}, DType::kF32);
  Tensor wrong_shape = Tensor::empty({3, 4}, DType::kBF16);
  test::expect_error([&] { ops::cast(a, wrong_shape); }, {"cast", "dst", "[3,4]", "[4,3]"});
  Tensor ints = Tensor::empty({4, 3}, DType::kI32);
  test::expect_error([&] { ops::cast(a, ints); }, {"cast", "dst", "i32", "f32, f64, bf16 or f16"});
  Tensor undefined;
  test::expect_error([&] { ops::cast(a, undefined); }, {"cast", "dst", "undefined"});
  // Two views of one buffer that overlap without being the same elements.
  const Tensor big = test::random_tensor({8}, DType::kF64, 5);
  Tensor shifted = big.slice(2, 6);
  test::expect_error([&] { ops::cast(big.slice(0, 4), shifted); }, {"cast", "overlap"});
}

TEST(Cast, GpuMatchesCpuBitForBit) {
  ATTNCAMP_REQUIRE_GPU();
  // Ties and boundaries of every narrowing plus random values over a wide range; odd size.
  Tensor r = test::random_tensor({4099}, DType::kF64, 4, -7e4, 7e4);
  const double special[] = {1 + std::ldexp(1.0, -8),
                            1 + 3 * std::ldexp(1.0, -8),
                            1 + std::ldexp(1.0, -11),
                            1 + std::ldexp(1.0, -24),
                            65520.0,
                            1e-7,
                            std::ldexp(1.0, -25),
                            -0.0,
                            3.0e38};
  for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); ++i) r.data<double>()[i * 7] = special[i];
  for (DType st : kFloatTypes) {
    const Tensor src = test::to_dtype(r, st);
    const Tensor src_gpu = src.to(Device::cuda(0));
    for (DType dt : kFloatTypes) {
      const Tensor got = cast_to(src_gpu, dt).to(Device::cpu());
      EXPECT_TRUE(same_bits(got, cast_to(src, dt))) << dtype_name(st) << " -> " << dtype_name(dt);
    }
  }
}

}  // namespace
}  // namespace attncamp
