// CUDA parity of the element-wise family (add, add_, scale_, tanh, gelu, bias add/fill/backward,
// dropout, softmax, token ops) against the CPU reference, through the parity harness
// (tests/ops/parity.h): each case runs on the GPU in f32 (against CPU f32 with a per-op
// tolerance, 0 where the arithmetic is the same) and in bf16 activations with f32 parameters
// (STYLE's rule against CPU f64). Odd sizes give ragged tails; outputs are poisoned first.
// Without a GPU these tests report SKIPPED.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ops/bias_add.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/gelu.h"
#include "ops/softmax.h"
#include "ops/tokens.h"
#include "tests/cuda_test_util.h"
#include "tests/ops/parity.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

// f32 tolerances, GPU against CPU (values of order 1). Same operations in the same order: 0.
constexpr double kSameArithmeticTol = 0.0;
// One rounding that may differ (a fused multiply-add on one side), values below 4.
constexpr double kOneRoundingTol = 1e-6;
// Column sums: double sums in another order, rounded to f32; sums below 64 (one f32 ulp: 2^-18).
constexpr double kColumnSumTol = 4e-6;
// tanhf, erff, expf of the CUDA math library (a few ulp) against the CPU's f32 functions.
constexpr double kMathLibTol = 2e-6;
// Softmax: f32 warp sums against the CPU's double sums over up to a few hundred terms (the
// backward dot product reaches about 10, where an f32 ulp is 1e-6).
constexpr double kSoftmaxTol = 1e-5;
// eps of the low-precision rule: f32 arithmetic error on top of the bf16 rounding.
constexpr double kLowpEps = 1e-5;

using test::accum;
using test::in;
using test::inout;
using test::out;
using test::param;
using test::ParityRun;

// Each case runs in f32 and in bf16 (activations; parameters stay f32).
const std::vector<DType> kDtypes = {DType::kF32, DType::kBF16};
test::Tolerance tol(double f32) { return {test::Tol{f32, 0}, test::Tol{kLowpEps, 0}}; }

Tensor rnd(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return test::random_tensor(shape, DType::kF64, seed, lo, hi);
}

// One parity case in f32 and bf16.
void check(const std::string& name, double tol32, std::vector<test::Slot> slots,
           std::function<void(std::vector<Tensor>&, const ParityRun&)> run) {
  test::check_parity({name, kDtypes, tol(tol32), std::move(slots), std::move(run)});
}

TEST(ElementwiseParity, ArithmeticAndTanh) {
  ATTNCAMP_REQUIRE_GPU();
  const Shape sh{37, 129};
  check("add", kSameArithmeticTol, {in("a", rnd(sh, 1)), in("b", rnd(sh, 2)), out("out", sh)},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::add(t[0], t[1], t[2]); });
  check("add_", kSameArithmeticTol, {inout("y", rnd(sh, 3)), in("x", rnd(sh, 4))},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::add_(t[0], t[1]); });
  check("scale_", kSameArithmeticTol, {inout("y", rnd(sh, 5))},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::scale_(t[0], 0.37); });
  check("tanh_forward", kMathLibTol, {in("x", rnd(sh, 6, -3, 3)), out("y", sh)},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::tanh_forward(t[0], t[1]); });
  check("tanh_backward", kOneRoundingTol, {in("y", rnd(sh, 7)), in("dy", rnd(sh, 8)), out("dx", sh)},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::tanh_backward(t[0], t[1], t[2]); });
}

TEST(GeluParity, ForwardAndBackward) {
  ATTNCAMP_REQUIRE_GPU();
  const Shape sh{3, 1001};
  check("gelu_forward", kMathLibTol, {in("x", rnd(sh, 11, -5, 5)), out("y", sh)},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::gelu_forward(t[0], t[1]); });
  check("gelu_backward", kMathLibTol, {in("x", rnd(sh, 12, -5, 5)), in("dy", rnd(sh, 13)), out("dx", sh)},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::gelu_backward(t[0], t[1], t[2]); });
}

TEST(BiasAddParity, AddFillAndColumnSums) {
  ATTNCAMP_REQUIRE_GPU();
  // 77 columns: two full 32-column blocks and a tail; 3*347 rows: not a multiple of the 16 row lanes.
  const Shape sh{3, 347, 77};
  check("bias_add_forward", kSameArithmeticTol, {inout("y", rnd(sh, 21)), param("b", rnd({77}, 22))},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::bias_add_forward(t[0], t[1]); });
  check("bias_fill", kSameArithmeticTol, {out("y", sh), param("b", rnd({77}, 23))},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::bias_fill(t[0], t[1]); });
  check("bias_add_backward", kColumnSumTol, {in("dy", rnd(sh, 24)), accum("db", rnd({77}, 25))},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::bias_add_backward(t[0], t[1]); });
  // Fewer rows than row lanes and a single partial column block.
  check("bias_add_backward small", kColumnSumTol, {in("dy", rnd({5, 9}, 26)), accum("db", rnd({9}, 27))},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::bias_add_backward(t[0], t[1]); });
}

TEST(BiasAddCuda, ColumnSumIsDeterministic) {
  ATTNCAMP_REQUIRE_GPU();
  const Tensor dy = test::to_gpu(rnd({4097, 65}, 28), DType::kBF16);
  Tensor a = test::to_gpu(rnd({65}, 29), DType::kF32), b = a.clone();
  ops::bias_add_backward(dy, a);
  ops::bias_add_backward(dy, b);
  EXPECT_EQ(test::max_abs_diff(test::to_host_f64(a), test::to_host_f64(b)), 0.0);
}

TEST(DropoutParity, ForwardAndBackward) {
  ATTNCAMP_REQUIRE_GPU();
  const Shape sh{3, 1001};
  // Offset 7: the first Philox block is partial; 3003 elements: so is the last.
  check("dropout_forward", kSameArithmeticTol, {in("x", rnd(sh, 31)), out("y", sh)},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::dropout_forward(t[0], 0.3, 1234, 7, t[1]); });
  check("dropout_backward", kSameArithmeticTol, {in("dy", rnd(sh, 32)), out("dx", sh)},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::dropout_backward(t[0], 0.7, 99, 4, t[1]); });
  check("dropout p=0", kSameArithmeticTol, {in("x", rnd(sh, 33)), out("y", sh)},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::dropout_forward(t[0], 0.0, 5, 1, t[1]); });
}

TEST(DropoutParity, MaskEqualsCpuExactly) {
  ATTNCAMP_REQUIRE_GPU();
  const double p = 0.4;
  for (uint64_t offset : {0ull, 1ull, 2ull, 3ull, (1ull << 33) + 5}) {
    SCOPED_TRACE(offset);
    const Tensor x = test::random_tensor({100003}, DType::kF32, 34, 0.5, 1.5);  // never zero
    Tensor y_cpu = Tensor::empty(x.shape(), DType::kF32);
    ops::dropout_forward(x, p, 77, offset, y_cpu);
    const Tensor xg = test::to_gpu(x, DType::kF32);
    Tensor yg = test::poisoned(x.shape(), DType::kF32, Device::cuda(0));
    ops::dropout_forward(xg, p, 77, offset, yg);
    int64_t first = -1;
    EXPECT_TRUE(test::same_elements(yg.to(Device::cpu()), y_cpu, &first)) << "first mismatch at " << first;
  }
}

TEST(SoftmaxParity, ForwardAndBackward) {
  ATTNCAMP_REQUIRE_GPU();
  for (const Shape& sh : {Shape{5, 7, 301}, Shape{9, 5}, Shape{3, 32}}) {
    check("softmax_forward " + shape_str(sh), kSoftmaxTol, {in("x", rnd(sh, 41, -4, 4)), out("y", sh)},
          [](std::vector<Tensor>& t, const ParityRun&) { ops::softmax_forward(t[0], t[1]); });
    check("softmax_backward " + shape_str(sh), kSoftmaxTol,
          {in("y", rnd(sh, 42, 0, 1)), in("dy", rnd(sh, 43)), out("dx", sh)},
          [](std::vector<Tensor>& t, const ParityRun&) { ops::softmax_backward(t[0], t[1], t[2]); });
  }
}

TEST(SoftmaxCuda, MaskedRowGivesZeros) {
  ATTNCAMP_REQUIRE_GPU();
  Tensor x = test::random_tensor({2, 40}, DType::kF32, 44);
  for (int64_t c = 0; c < 40; ++c) x.data<float>()[40 + c] = -INFINITY;
  const Tensor xg = test::to_gpu(x, DType::kF32);
  Tensor yg = test::poisoned(x.shape(), DType::kF32, Device::cuda(0));
  ops::softmax_forward(xg, yg);
  const Tensor y = test::to_host_f64(yg);
  double row0 = 0;
  for (int64_t c = 0; c < 40; ++c) {
    row0 += y.data<double>()[c];
    EXPECT_EQ(y.data<double>()[40 + c], 0.0) << c;
  }
  EXPECT_NEAR(row0, 1.0, 1e-6);
}

TEST(TokensParity, TokenOps) {
  ATTNCAMP_REQUIRE_GPU();
  const int64_t b = 5, s = 7, d = 45;
  check("patchify f32", kOneRoundingTol, {param("images", rnd({2, 12, 20, 3}, 51, 0, 1)), out("out", {2, 15, 48})},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::patchify(t[0], 4, 0.45, 0.25, t[1]); });
  check("patchify f32 per channel", kOneRoundingTol,
        {param("images", rnd({2, 12, 20, 3}, 62, 0, 1)), out("out", {2, 15, 48})},
        [](std::vector<Tensor>& t, const ParityRun&) {
          ops::patchify(t[0], 4, {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, t[1]);
        });
  check("prepend_token_forward", kSameArithmeticTol,
        {in("x", rnd({b, s, d}, 52)), param("tok", rnd({d}, 53)), out("y", {b, s + 1, d})},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::prepend_token_forward(t[0], t[1], t[2]); });
  check("prepend_token_backward", kSameArithmeticTol,
        {in("dy", rnd({b, s + 1, d}, 54)), out("dx", {b, s, d}), accum("dtok", rnd({d}, 55))},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::prepend_token_backward(t[0], t[1], t[2]); });
  check("add_position_forward", kSameArithmeticTol, {inout("x", rnd({b, s, d}, 56)), param("pos", rnd({s, d}, 57))},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::add_position_forward(t[0], t[1]); });
  check("add_position_backward", kSameArithmeticTol, {in("dy", rnd({b, s, d}, 58)), accum("dpos", rnd({s, d}, 59))},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::add_position_backward(t[0], t[1]); });
  check("select_token_forward", kSameArithmeticTol, {in("x", rnd({b, s, d}, 60)), out("y", {b, d})},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::select_token_forward(t[0], 2, t[1]); });
  check("select_token_backward", kSameArithmeticTol, {in("dy", rnd({b, d}, 61)), out("dx", {b, s, d})},
        [](std::vector<Tensor>& t, const ParityRun&) { ops::select_token_backward(t[0], s - 1, t[1]); });
}

// u8 images with one mean/std, and with one per channel (ImageNet's).
TEST(TokensParity, PatchifyU8Images) {
  ATTNCAMP_REQUIRE_GPU();
  Tensor img = Tensor::empty({3, 10, 15, 3}, DType::kU8);
  for (int64_t i = 0; i < img.numel(); ++i) img.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  const Tensor img_gpu = img.to(Device::cuda(0));
  struct Norm {
    std::vector<double> mean, std;
  };
  for (const Norm& nm : {Norm{{0.5}, {0.25}}, Norm{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}}) {
    Tensor ref = Tensor::empty({3, 6, 75}, DType::kF32);
    ops::patchify(img, 5, nm.mean, nm.std, ref);
    for (DType dt : {DType::kF32, DType::kBF16}) {
      Tensor outg = Tensor::empty(ref.shape(), dt, Device::cuda(0));
      outg.poison();
      ops::patchify(img_gpu, 5, nm.mean, nm.std, outg);
      const Tensor ref_dt = test::round_through(ref, dt);  // exact in f32; one bf16 rounding
      const double tol =
          dt == DType::kF32 ? kOneRoundingTol : test::lowp_tolerance(test::to_host_f64(ref), ref_dt, kOneRoundingTol);
      EXPECT_LE(test::max_abs_diff(test::to_host_f64(outg), test::to_host_f64(ref)), tol)
          << dtype_name(dt) << " " << nm.mean.size() << " mean(s)";
    }
  }
}

TEST(ElementwiseParity, MixedDtypesResidualAdd) {
  ATTNCAMP_REQUIRE_GPU();
  // y f32 (residual stream) += x bf16: exactly the f32 sum of y and the bf16 value of x.
  const Tensor y0 = test::random_tensor({1023}, DType::kF32, 71);
  const Tensor x0 = test::to_dtype(test::random_tensor({1023}, DType::kF32, 72), DType::kBF16);
  Tensor y = y0.to(Device::cuda(0));
  ops::add_(y, x0.to(Device::cuda(0)));
  Tensor expect = test::to_dtype(x0, DType::kF32);
  ops::add_(expect, y0);
  EXPECT_EQ(test::max_abs_diff(y.to(Device::cpu()), expect), 0.0);
  // out bf16 = a f32 + b bf16, rounded once.
  Tensor out = Tensor::empty({1023}, DType::kBF16, Device::cuda(0));
  out.poison();
  ops::add(y0.to(Device::cuda(0)), x0.to(Device::cuda(0)), out);
  EXPECT_EQ(test::max_abs_diff(out.to(Device::cpu()), test::to_dtype(expect, DType::kBF16)), 0.0);
}

TEST(ElementwiseCuda, DeviceAndDtypeErrors) {
  ATTNCAMP_REQUIRE_GPU();
  Tensor g = Tensor::zeros({4, 3}, DType::kF32, Device::cuda(0));
  Tensor h = Tensor::zeros({4, 3}, DType::kF32);
  test::expect_error([&] { ops::add_(g, h); }, {"add_", "different devices"});
  Tensor g64 = Tensor::zeros({4, 3}, DType::kF64, Device::cuda(0));
  test::expect_error([&] { ops::gelu_forward(g64, g); }, {"gelu_forward", "x", "f64", "f32, bf16 or f16"});
  Tensor bias16 = Tensor::zeros({3}, DType::kBF16, Device::cuda(0));
  test::expect_error([&] { ops::bias_add_forward(g, bias16); }, {"bias_add_forward", "b", "f32"});
  Tensor other = Tensor::zeros({4, 4}, DType::kF32, Device::cuda(0));
  test::expect_error([&] { ops::softmax_forward(g, other); }, {"softmax_forward", "y", "[4,4]"});
}

// Runs without a GPU: the keep threshold the CPU and CUDA dropout share is the smallest float
// not below p, so u >= threshold in f32 is exactly u >= p.
TEST(DropoutThreshold, IsSmallestFloatNotBelowP) {
  for (double p : {0.1, 0.3, 0.5, 0.7, 0.9, 1.0 / 3.0, 1e-30}) {
    const float t = ops::dropout_threshold(p);
    EXPECT_GE(static_cast<double>(t), p) << p;
    EXPECT_LT(static_cast<double>(std::nextafter(t, 0.0f)), p) << p;
  }
  EXPECT_EQ(ops::dropout_threshold(0.0), 0.0f);
}

}  // namespace
}  // namespace attncamp
