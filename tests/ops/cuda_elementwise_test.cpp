// CUDA parity of the element-wise family (add, add_, scale_, tanh, gelu, bias add/fill/backward,
// dropout, softmax, token ops) against the CPU reference: each case runs on the GPU in f32
// (checked against CPU f32 with a per-op tolerance, 0 where the arithmetic is the same) and in
// bf16 activations with f32 parameters (checked with STYLE's rule against CPU f64). Odd sizes
// give ragged tails; outputs are poisoned first. Without a GPU these tests report SKIPPED.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "ops/bias_add.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/gelu.h"
#include "ops/softmax.h"
#include "ops/tokens.h"
#include "tests/cuda_test_util.h"
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

enum class Kind {
  kIn,        // activation input: f32 or bf16 on the GPU
  kF32In,     // input that stays f32 on the GPU (parameters, f32 images)
  kOut,       // activation output (poisoned before the op)
  kInOut,     // activation updated in place
  kF32Accum,  // f32 parameter gradient that the op accumulates into
};

struct Slot {
  Kind kind;
  Tensor init;  // CPU f64 values (for kOut only the shape matters)
};

struct Case {
  std::string name;
  double tol32;
  std::vector<Slot> slots;
  std::function<void(std::vector<Tensor>&)> run;
};

bool is_f32_slot(Kind k) { return k == Kind::kF32In || k == Kind::kF32Accum; }
bool is_output(Kind k) { return k == Kind::kOut || k == Kind::kInOut || k == Kind::kF32Accum; }

// Runs the case with activations in `act` and f32 slots in `param` (f64 for the f64 reference),
// on the GPU or the CPU; `round_bf16` rounds activation inputs and outputs through bf16 (the
// low-precision CPU reference). Returns the outputs as CPU f64 tensors.
std::vector<Tensor> run_case(const Case& c, bool gpu, DType act, DType param, bool round_bf16) {
  std::vector<Tensor> ts;
  for (const Slot& s : c.slots) {
    const DType dt = is_f32_slot(s.kind) ? param : act;
    if (s.kind == Kind::kOut) {
      ts.push_back(Tensor::empty(s.init.shape(), dt, gpu ? Device::cuda(0) : Device::cpu()));
      ts.back().poison();
      continue;
    }
    const Tensor v = round_bf16 && !is_f32_slot(s.kind) ? test::round_through(s.init, DType::kBF16) : s.init;
    ts.push_back(gpu ? test::to_gpu(v, dt) : test::to_dtype(v, dt));
  }
  c.run(ts);
  std::vector<Tensor> outs;
  for (size_t k = 0; k < ts.size(); ++k) {
    if (!is_output(c.slots[k].kind)) continue;
    const Tensor o = test::to_host_f64(ts[k]);
    outs.push_back(round_bf16 && !is_f32_slot(c.slots[k].kind) ? test::round_through(o, DType::kBF16) : o);
  }
  return outs;
}

void check_parity(const Case& c) {
  SCOPED_TRACE(c.name);
  const std::vector<Tensor> ref64 = run_case(c, false, DType::kF64, DType::kF64, false);
  const std::vector<Tensor> ref32 = run_case(c, false, DType::kF32, DType::kF32, false);
  const std::vector<Tensor> lowp = run_case(c, false, DType::kF32, DType::kF32, true);
  const std::vector<Tensor> gpu32 = run_case(c, true, DType::kF32, DType::kF32, false);
  const std::vector<Tensor> gpu16 = run_case(c, true, DType::kBF16, DType::kF32, false);
  for (size_t k = 0; k < ref64.size(); ++k) {
    EXPECT_LE(test::max_abs_diff(gpu32[k], ref32[k]), c.tol32) << "f32, output " << k;
    EXPECT_LE(test::max_abs_diff(gpu16[k], ref64[k]), test::lowp_tolerance(ref64[k], lowp[k], kLowpEps))
        << "bf16, output " << k;
  }
}

Tensor rnd(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return test::random_tensor(shape, DType::kF64, seed, lo, hi);
}
Slot in(const Tensor& t) { return {Kind::kIn, t}; }
Slot f32_in(const Tensor& t) { return {Kind::kF32In, t}; }
Slot out(const Shape& shape) { return {Kind::kOut, Tensor::empty(shape, DType::kF64)}; }
Slot inout(const Tensor& t) { return {Kind::kInOut, t}; }
Slot accum(const Tensor& t) { return {Kind::kF32Accum, t}; }

TEST(CudaElementwise, ArithmeticAndTanh) {
  ATTNCAMP_REQUIRE_GPU();
  const Shape sh{37, 129};
  check_parity({"add", kSameArithmeticTol, {in(rnd(sh, 1)), in(rnd(sh, 2)), out(sh)}, [](std::vector<Tensor>& t) {
                  ops::add(t[0], t[1], t[2]);
                }});
  check_parity({"add_", kSameArithmeticTol, {inout(rnd(sh, 3)), in(rnd(sh, 4))}, [](std::vector<Tensor>& t) {
                  ops::add_(t[0], t[1]);
                }});
  check_parity(
      {"scale_", kSameArithmeticTol, {inout(rnd(sh, 5))}, [](std::vector<Tensor>& t) { ops::scale_(t[0], 0.37); }});
  check_parity({"tanh_forward", kMathLibTol, {in(rnd(sh, 6, -3, 3)), out(sh)}, [](std::vector<Tensor>& t) {
                  ops::tanh_forward(t[0], t[1]);
                }});
  check_parity(
      {"tanh_backward", kOneRoundingTol, {in(rnd(sh, 7)), in(rnd(sh, 8)), out(sh)}, [](std::vector<Tensor>& t) {
         ops::tanh_backward(t[0], t[1], t[2]);
       }});
}

TEST(CudaElementwise, Gelu) {
  ATTNCAMP_REQUIRE_GPU();
  const Shape sh{3, 1001};
  check_parity({"gelu_forward", kMathLibTol, {in(rnd(sh, 11, -5, 5)), out(sh)}, [](std::vector<Tensor>& t) {
                  ops::gelu_forward(t[0], t[1]);
                }});
  check_parity(
      {"gelu_backward", kMathLibTol, {in(rnd(sh, 12, -5, 5)), in(rnd(sh, 13)), out(sh)}, [](std::vector<Tensor>& t) {
         ops::gelu_backward(t[0], t[1], t[2]);
       }});
}

TEST(CudaElementwise, BiasAddFillAndColumnSums) {
  ATTNCAMP_REQUIRE_GPU();
  // 77 columns: two full 32-column blocks and a tail; 3*347 rows: not a multiple of the 16 row lanes.
  const Shape sh{3, 347, 77};
  check_parity(
      {"bias_add_forward", kSameArithmeticTol, {inout(rnd(sh, 21)), f32_in(rnd({77}, 22))}, [](std::vector<Tensor>& t) {
         ops::bias_add_forward(t[0], t[1]);
       }});
  check_parity({"bias_fill", kSameArithmeticTol, {out(sh), f32_in(rnd({77}, 23))}, [](std::vector<Tensor>& t) {
                  ops::bias_fill(t[0], t[1]);
                }});
  check_parity(
      {"bias_add_backward", kColumnSumTol, {in(rnd(sh, 24)), accum(rnd({77}, 25))}, [](std::vector<Tensor>& t) {
         ops::bias_add_backward(t[0], t[1]);
       }});
  // Fewer rows than row lanes and a single partial column block.
  check_parity({"bias_add_backward small",
                kColumnSumTol,
                {in(rnd({5, 9}, 26)), accum(rnd({9}, 27))},
                [](std::vector<Tensor>& t) { ops::bias_add_backward(t[0], t[1]); }});
}

TEST(CudaElementwise, BiasColumnSumIsDeterministic) {
  ATTNCAMP_REQUIRE_GPU();
  const Tensor dy = test::to_gpu(rnd({4097, 65}, 28), DType::kBF16);
  Tensor a = test::to_gpu(rnd({65}, 29), DType::kF32), b = a.clone();
  ops::bias_add_backward(dy, a);
  ops::bias_add_backward(dy, b);
  EXPECT_EQ(test::max_abs_diff(test::to_host_f64(a), test::to_host_f64(b)), 0.0);
}

TEST(CudaElementwise, Dropout) {
  ATTNCAMP_REQUIRE_GPU();
  const Shape sh{3, 1001};
  // Offset 7: the first Philox block is partial; 3003 elements: so is the last.
  check_parity({"dropout_forward", kSameArithmeticTol, {in(rnd(sh, 31)), out(sh)}, [](std::vector<Tensor>& t) {
                  ops::dropout_forward(t[0], 0.3, 1234, 7, t[1]);
                }});
  check_parity({"dropout_backward", kSameArithmeticTol, {in(rnd(sh, 32)), out(sh)}, [](std::vector<Tensor>& t) {
                  ops::dropout_backward(t[0], 0.7, 99, 4, t[1]);
                }});
  check_parity({"dropout p=0", kSameArithmeticTol, {in(rnd(sh, 33)), out(sh)}, [](std::vector<Tensor>& t) {
                  ops::dropout_forward(t[0], 0.0, 5, 1, t[1]);
                }});
}

TEST(CudaElementwise, DropoutMaskEqualsCpuExactly) {
  ATTNCAMP_REQUIRE_GPU();
  const double p = 0.4;
  for (uint64_t offset : {0ull, 1ull, 2ull, 3ull, (1ull << 33) + 5}) {
    SCOPED_TRACE(offset);
    const Tensor x = test::random_tensor({100003}, DType::kF32, 34, 0.5, 1.5);  // never zero
    Tensor y_cpu = Tensor::empty(x.shape(), DType::kF32);
    ops::dropout_forward(x, p, 77, offset, y_cpu);
    const Tensor xg = test::to_gpu(x, DType::kF32);
    Tensor yg = Tensor::empty(x.shape(), DType::kF32, Device::cuda(0));
    yg.poison();
    ops::dropout_forward(xg, p, 77, offset, yg);
    const Tensor y_gpu = yg.to(Device::cpu());
    int64_t mismatches = 0;
    for (int64_t i = 0; i < x.numel(); ++i) mismatches += y_gpu.data<float>()[i] != y_cpu.data<float>()[i];
    EXPECT_EQ(mismatches, 0);
  }
}

TEST(CudaElementwise, Softmax) {
  ATTNCAMP_REQUIRE_GPU();
  for (const Shape& sh : {Shape{5, 7, 301}, Shape{9, 5}, Shape{3, 32}}) {
    check_parity({"softmax_forward " + shape_str(sh),
                  kSoftmaxTol,
                  {in(rnd(sh, 41, -4, 4)), out(sh)},
                  [](std::vector<Tensor>& t) { ops::softmax_forward(t[0], t[1]); }});
    check_parity({"softmax_backward " + shape_str(sh),
                  kSoftmaxTol,
                  {in(rnd(sh, 42, 0, 1)), in(rnd(sh, 43)), out(sh)},
                  [](std::vector<Tensor>& t) { ops::softmax_backward(t[0], t[1], t[2]); }});
  }
}

TEST(CudaElementwise, SoftmaxMaskedRowGivesZeros) {
  ATTNCAMP_REQUIRE_GPU();
  Tensor x = test::random_tensor({2, 40}, DType::kF32, 44);
  for (int64_t c = 0; c < 40; ++c) x.data<float>()[40 + c] = -INFINITY;
  const Tensor xg = test::to_gpu(x, DType::kF32);
  Tensor yg = Tensor::empty(x.shape(), DType::kF32, Device::cuda(0));
  yg.poison();
  ops::softmax_forward(xg, yg);
  const Tensor y = test::to_host_f64(yg);
  double row0 = 0;
  for (int64_t c = 0; c < 40; ++c) {
    row0 += y.data<double>()[c];
    EXPECT_EQ(y.data<double>()[40 + c], 0.0) << c;
  }
  EXPECT_NEAR(row0, 1.0, 1e-6);
}

TEST(CudaElementwise, TokenOps) {
  ATTNCAMP_REQUIRE_GPU();
  const int64_t b = 5, s = 7, d = 45;
  check_parity({"patchify f32",
                kOneRoundingTol,
                {f32_in(rnd({2, 12, 20, 3}, 51, 0, 1)), out({2, 15, 48})},
                [](std::vector<Tensor>& t) { ops::patchify(t[0], 4, 0.45, 0.25, t[1]); }});
  check_parity({"prepend_token_forward",
                kSameArithmeticTol,
                {in(rnd({b, s, d}, 52)), f32_in(rnd({d}, 53)), out({b, s + 1, d})},
                [](std::vector<Tensor>& t) { ops::prepend_token_forward(t[0], t[1], t[2]); }});
  check_parity({"prepend_token_backward",
                kSameArithmeticTol,
                {in(rnd({b, s + 1, d}, 54)), out({b, s, d}), accum(rnd({d}, 55))},
                [](std::vector<Tensor>& t) { ops::prepend_token_backward(t[0], t[1], t[2]); }});
  check_parity({"add_position_forward",
                kSameArithmeticTol,
                {inout(rnd({b, s, d}, 56)), f32_in(rnd({s, d}, 57))},
                [](std::vector<Tensor>& t) { ops::add_position_forward(t[0], t[1]); }});
  check_parity({"add_position_backward",
                kSameArithmeticTol,
                {in(rnd({b, s, d}, 58)), accum(rnd({s, d}, 59))},
                [](std::vector<Tensor>& t) { ops::add_position_backward(t[0], t[1]); }});
  check_parity(
      {"select_token_forward", kSameArithmeticTol, {in(rnd({b, s, d}, 60)), out({b, d})}, [](std::vector<Tensor>& t) {
         ops::select_token_forward(t[0], 2, t[1]);
       }});
  check_parity(
      {"select_token_backward", kSameArithmeticTol, {in(rnd({b, d}, 61)), out({b, s, d})}, [](std::vector<Tensor>& t) {
         ops::select_token_backward(t[0], s - 1, t[1]);
       }});
}

TEST(CudaElementwise, PatchifyU8Images) {
  ATTNCAMP_REQUIRE_GPU();
  Tensor img = Tensor::empty({3, 10, 15, 3}, DType::kU8);
  for (int64_t i = 0; i < img.numel(); ++i) img.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  Tensor ref = Tensor::empty({3, 6, 75}, DType::kF32);
  ops::patchify(img, 5, 0.5, 0.25, ref);
  const Tensor img_gpu = img.to(Device::cuda(0));
  for (DType dt : {DType::kF32, DType::kBF16}) {
    Tensor outg = Tensor::empty(ref.shape(), dt, Device::cuda(0));
    outg.poison();
    ops::patchify(img_gpu, 5, 0.5, 0.25, outg);
    const Tensor ref_dt = test::round_through(ref, dt);  // exact in f32; one bf16 rounding
    const double tol =
        dt == DType::kF32 ? kOneRoundingTol : test::lowp_tolerance(test::to_host_f64(ref), ref_dt, kOneRoundingTol);
    EXPECT_LE(test::max_abs_diff(test::to_host_f64(outg), test::to_host_f64(ref)), tol) << dtype_name(dt);
  }
}

TEST(CudaElementwise, MixedDtypesResidualAdd) {
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

TEST(CudaElementwise, DeviceAndDtypeErrors) {
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
TEST(CudaElementwiseHost, DropoutThresholdIsSmallestFloatNotBelowP) {
  for (double p : {0.1, 0.3, 0.5, 0.7, 0.9, 1.0 / 3.0, 1e-30}) {
    const float t = ops::dropout_threshold(p);
    EXPECT_GE(static_cast<double>(t), p) << p;
    EXPECT_LT(static_cast<double>(std::nextafter(t, 0.0f)), p) << p;
  }
  EXPECT_EQ(ops::dropout_threshold(0.0), 0.0f);
}

}  // namespace
}  // namespace attncamp
