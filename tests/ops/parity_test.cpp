// The parity harness's own logic (tests/ops/parity.h), on the CPU: the CPU is the device under
// test, and the "kernels" are small hand-written loops that are right, or wrong on purpose (an
// element off, an element never written, an index off by one), so each rule must pass the one and
// fail the other. These need no GPU and always run.
#include "tests/ops/parity.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ops/elementwise.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::Case;
using test::ParityRun;
using test::Tol;
using test::Tolerance;

const Device kCpu = Device::cpu();
constexpr double kTol = 1e-3;  // the f32 tolerance of the cases below (absolute)
const Tolerance kCaseTol{Tol{kTol, 0}, Tol{1e-6, 0}};

Tensor rnd(const Shape& shape, uint64_t seed) { return test::random_tensor(shape, DType::kF64, seed, -2.0, 2.0); }

// y = x^2 + 0.5 in any float dtype: computed in f64, rounded once to y's dtype (what a correct
// kernel of that dtype returns), then `spoil` may change it.
void square_plus_half(const Tensor& x, Tensor& y, const std::function<void(Tensor&)>& spoil = nullptr) {
  Tensor v = test::to_dtype(x, DType::kF64);
  for (int64_t i = 0; i < v.numel(); ++i) v.data<double>()[i] = v.data<double>()[i] * v.data<double>()[i] + 0.5;
  Tensor r = test::to_dtype(v, y.dtype());
  if (spoil) spoil(r);
  y.copy_from(r);
}

// A case over square_plus_half whose kernel under test is spoiled by `spoil`.
Case square_case(const std::vector<DType>& dtypes, const std::function<void(Tensor&)>& spoil) {
  return {"square",
          dtypes,
          kCaseTol,
          {test::in("x", rnd({7, 33}, 1)), test::out("y", {7, 33})},
          [spoil](std::vector<Tensor>& t, const ParityRun& r) {
            square_plus_half(t[0], t[1], r.under_test ? spoil : nullptr);
          }};
}

// Adds `delta` to element `i` of a float tensor of any dtype.
std::function<void(Tensor&)> add_at(int64_t i, double delta) {
  return [i, delta](Tensor& t) {
    Tensor v = test::to_dtype(t, DType::kF64);
    v.data<double>()[i] += delta;
    t = test::to_dtype(v, t.dtype());
  };
}

TEST(ParityHarness, RightKernelPassesInEveryDtype) {
  const test::ParityOutputs outs =
      test::check_parity(square_case({DType::kF32, DType::kBF16, DType::kF16}, nullptr), kCpu);
  ASSERT_EQ(outs.size(), 3u);
  for (const auto& o : outs) EXPECT_EQ(o.size(), 1u);
}

TEST(ParityHarness, RealCpuOpPassesWithZeroTolerance) {
  const Shape sh{5, 9};
  test::check_parity({"add",
                      {DType::kF32},
                      Tolerance{},
                      {test::in("a", rnd(sh, 2)), test::in("b", rnd(sh, 3)), test::out("out", sh)},
                      [](std::vector<Tensor>& t, const ParityRun&) { ops::add(t[0], t[1], t[2]); }},
                     kCpu);
}

TEST(ParityHarness, F32RuleHoldsUpToTheToleranceAndNoFurther) {
  test::check_parity(square_case({DType::kF32}, add_at(40, 0.9 * kTol)), kCpu);
  EXPECT_NONFATAL_FAILURE(test::check_parity(square_case({DType::kF32}, add_at(40, 1.1 * kTol)), kCpu),
                          "square f32, output y: max|out - ref32|");
}

TEST(ParityHarness, LowPrecisionRuleCatchesAFewUlps) {
  // One bf16 ulp at 1..2 is 2^-7; four of them are far outside twice the largest rounding error.
  EXPECT_NONFATAL_FAILURE(test::check_parity(square_case({DType::kBF16}, add_at(3, 4 * std::ldexp(1.0, -7))), kCpu),
                          "square bf16, output y: max|out - ref64|");
  EXPECT_NONFATAL_FAILURE(test::check_parity(square_case({DType::kF16}, add_at(3, 0.01)), kCpu),
                          "square f16, output y");
}

TEST(ParityHarness, PoisonCatchesAnUnwrittenElement) {
  auto skip_element = [](std::vector<Tensor>& t, const ParityRun& r) {
    Tensor keep = t[1].clone();  // the poisoned output
    square_plus_half(t[0], t[1]);
    if (r.under_test) {  // element 5 never written: it keeps its poison
      Tensor v = test::to_dtype(t[1], DType::kF64), p = test::to_dtype(keep, DType::kF64);
      v.data<double>()[5] = p.data<double>()[5];
      t[1].copy_from(test::to_dtype(v, t[1].dtype()));
    }
  };
  for (DType dt : {DType::kF32, DType::kBF16}) {
    const Case c{"unwritten", {dt}, kCaseTol, {test::in("x", rnd({4, 4}, 4)), test::out("y", {4, 4})}, skip_element};
    SCOPED_TRACE(dtype_name(dt));
    EXPECT_NONFATAL_FAILURE(test::check_parity(c, kCpu), "output y");
  }
}

// idx[r] = the column of the largest x in row r (the first of ties), as an i32 output; the kernel
// under test is spoiled by `spoil` (row, and what to write there instead; -2 for "not written").
Case argmax_case(int64_t bad_row, int32_t bad_value, DType dtype) {
  Tensor labels = Tensor::empty({6}, DType::kI32);
  for (int64_t i = 0; i < 6; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>(i % 3);
  return {"argmax",
          {dtype},
          kCaseTol,
          {test::in("x", rnd({6, 11}, 5)), test::int_in("labels", labels), test::int_out("idx", {6})},
          [bad_row, bad_value](std::vector<Tensor>& t, const ParityRun& r) {
            const Tensor x = test::to_dtype(t[0], DType::kF64);
            Tensor idx = t[2].clone();
            for (int64_t row = 0; row < 6; ++row) {
              int32_t best = 0;
              for (int32_t c = 1; c < 11; ++c)
                best = x.data<double>()[row * 11 + c] > x.data<double>()[row * 11 + best] ? c : best;
              if (r.under_test && row == bad_row && bad_value == -2) continue;
              idx.data<int32_t>()[row] = r.under_test && row == bad_row ? bad_value : best;
            }
            t[2].copy_from(idx);
          }};
}

TEST(ParityHarness, IntegerOutputsAreComparedExactly) {
  for (DType dt : {DType::kF32, DType::kBF16}) {
    const test::ParityOutputs outs = test::check_parity(argmax_case(-1, 0, dt), kCpu);
    ASSERT_EQ(outs.size(), 1u);
    EXPECT_EQ(outs[0][0].dtype(), DType::kI32);
  }
  EXPECT_NONFATAL_FAILURE(test::check_parity(argmax_case(4, 0, DType::kF32), kCpu),
                          "argmax f32, output idx is not exactly the CPU's: first difference at element 4");
  // Never written: the poison stays, and it is not -1 (a legal "none" value of such outputs).
  EXPECT_NONFATAL_FAILURE(test::check_parity(argmax_case(2, -2, DType::kBF16), kCpu),
                          "argmax bf16, output idx is not exactly the CPU's: first difference at element 2");
  EXPECT_NE(test::kI32Poison, -1);
}

TEST(ParityHarness, ExactFloatSlotsAllowNoError) {
  const Case near{"exact",
                  {DType::kF32},
                  kCaseTol,
                  {test::in("x", rnd({3, 5}, 6)), test::exact(test::out("y", {3, 5}))},
                  [](std::vector<Tensor>& t, const ParityRun& r) {
                    square_plus_half(t[0], t[1], r.under_test ? add_at(7, 1e-6) : nullptr);
                  }};
  EXPECT_NONFATAL_FAILURE(test::check_parity(near, kCpu), "output y is not exactly the CPU's");
}

TEST(ParityHarness, MisalignedInputsAndPerSlotTolerances) {
  // A slot's own tolerance replaces the case's; misaligned operands start past their allocation's start.
  const Tolerance loose{Tol{10 * kTol, 0}, Tol{1e-6, 0}};
  const Case c{"misaligned",
               {DType::kF32},
               kCaseTol,
               {test::misaligned(test::in("x", rnd({2, 9}, 7)), 3), test::with_tol(test::out("y", {2, 9}), loose)},
               [](std::vector<Tensor>& t, const ParityRun& r) {
                 if (r.under_test) {  // 3 f32 elements into a (16-byte aligned) allocation
                   EXPECT_NE(reinterpret_cast<uintptr_t>(t[0].raw_data()) % 16, 0u);
                 }
                 square_plus_half(t[0], t[1], r.under_test ? add_at(0, 5 * kTol) : nullptr);
               }};
  test::check_parity(c, kCpu);
}

TEST(ParityHarness, RoundStoredRoundsOnlyTheLowPrecisionReference) {
  for (bool lowp : {false, true}) {
    ParityRun r;
    r.act = DType::kBF16;
    r.lowp = lowp;
    Tensor t = Tensor::empty({1}, DType::kF32);
    t.data<float>()[0] = 1.0f + std::ldexp(1.0f, -12);  // not a bf16 value
    r.round_stored(t);
    EXPECT_EQ(t.data<float>()[0], lowp ? 1.0f : 1.0f + std::ldexp(1.0f, -12));
  }
}

TEST(ParityHarness, PoisonedFillsFloatsWithNanAndIntegersWithTheSentinel) {
  const Tensor f = test::poisoned({3}, DType::kF32, kCpu, 2);
  for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(std::isnan(f.data<float>()[i]));
  const Tensor n = test::poisoned({3}, DType::kI32, kCpu);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(n.data<int32_t>()[i], test::kI32Poison);
  const Tensor u = test::poisoned({2}, DType::kU8, kCpu);
  EXPECT_EQ(u.data<uint8_t>()[1], test::kU8Poison);
}

TEST(ParityHarness, SameElementsMatchesNanWithNanAndNothingElse) {
  Tensor a = Tensor::zeros({4}, DType::kF64), b = Tensor::zeros({4}, DType::kF64);
  a.data<double>()[1] = NAN;
  b.data<double>()[1] = NAN;
  int64_t at = 7;
  EXPECT_TRUE(test::same_elements(a, b, &at));
  EXPECT_EQ(at, -1);
  b.data<double>()[3] = 1e-300;
  EXPECT_FALSE(test::same_elements(a, b, &at));
  EXPECT_EQ(at, 3);
  EXPECT_FALSE(test::same_elements(a, Tensor::zeros({4}, DType::kF32)));  // dtypes differ
}

}  // namespace
}  // namespace attncamp
