// Parity tests of the CUDA RoIAlign against its CPU reference through the parity harness
// (tests/ops/parity.h): forward, atomic backward and deterministic backward in f32, bf16 and f16
// on the shared cases (boxes inside, partly and wholly outside the map, tiny, huge and reversed,
// several images), on a box-head-sized case whose grid-stride loops go round, and on misaligned
// views (scalar accesses). Then the deterministic backward's bits run to run and under
// $ATTNCAMP_DETERMINISTIC, and the device-side ROI check's errors. Without a GPU every test skips,
// saying why.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ops/roi_align.h"
#include "runtime/env.h"
#include "tests/cuda_test_util.h"
#include "tests/ops/parity.h"
#include "tests/ops/roi_align_test_cases.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::in;
using test::out;
using test::param;
using test::ParityRun;
using test::roi_align::Case;
using test::roi_align::map_shape;
using test::roi_align::options;
using test::roi_align::pooled_shape;
using test::roi_align::random_rois;
using test::roi_align::small_cases;

// f32 kernels against the CPU in f32 (double sums): f32 sums and float atomics over up to a few
// thousand terms per element; the eps of the 16-bit rule likewise. abs + rel * max|ref|.
const test::Tolerance kRoiAlignTol{{1e-5, 1e-5}, {1e-5, 1e-5}};
const std::vector<DType> kAllDtypes = {DType::kF32, DType::kBF16, DType::kF16};

// The box head's ROI count on a stride-16 map, 64 channels (the CPU references stay quick).
const Case kBoxHead{"box head 1x50x68x64 512 rois", 1, 50, 68, 64, 512, 7, 7, 1.0 / 16, 0, 21};

std::vector<Case> all_cases() {
  std::vector<Case> c = small_cases();
  c.push_back(kBoxHead);
  return c;
}

Tensor rois_f32(const Case& c) { return test::to_dtype(random_rois(c), DType::kF32); }

// Slots: input, rois, output.
void forward_case(const Case& c, int64_t misalign = 0) {
  const ops::RoiAlignOptions opt = options(c);
  test::check_parity(
      {std::string("roi_align_forward ") + c.name + (misalign > 0 ? " misaligned" : ""),
       kAllDtypes,
       kRoiAlignTol,
       {test::misaligned(in("input", test::random_tensor(map_shape(c), DType::kF32, c.seed)), misalign),
        param("rois", rois_f32(c)), test::misaligned(out("output", pooled_shape(c)), misalign)},
       [opt](std::vector<Tensor>& t, const ParityRun&) { ops::roi_align_forward(t[0], t[1], opt, t[2]); }});
}

// Slots: grad_output, rois, grad_input.
void backward_case(const Case& c, bool deterministic, int64_t misalign = 0) {
  const ops::RoiAlignOptions opt = options(c, deterministic);
  test::check_parity(
      {std::string("roi_align_backward ") + (deterministic ? "deterministic " : "atomic ") + c.name +
           (misalign > 0 ? " misaligned" : ""),
       kAllDtypes,
       kRoiAlignTol,
       {test::misaligned(in("grad_output", test::random_tensor(pooled_shape(c), DType::kF32, c.seed + 1)), misalign),
        param("rois", rois_f32(c)), test::misaligned(out("grad_input", map_shape(c)), misalign)},
       [opt](std::vector<Tensor>& t, const ParityRun&) { ops::roi_align_backward(t[0], t[1], opt, t[2]); }});
}

TEST(RoiAlignParity, Forward) {
  ATTNCAMP_REQUIRE_GPU();
  for (const Case& c : all_cases()) forward_case(c);
}

TEST(RoiAlignParity, AtomicBackward) {
  ATTNCAMP_REQUIRE_GPU();
  test::ScopedEnv unset(env::kDeterministic, nullptr);
  for (const Case& c : all_cases()) backward_case(c, false);
}

TEST(RoiAlignParity, DeterministicBackward) {
  ATTNCAMP_REQUIRE_GPU();
  for (const Case& c : all_cases()) backward_case(c, true);
}

TEST(RoiAlignParity, MisalignedViewsUseScalarAccesses) {
  ATTNCAMP_REQUIRE_GPU();
  const Case c = small_cases()[0];  // 16 channels: vector accesses when aligned
  forward_case(c, 1);
  backward_case(c, false, 1);
  backward_case(c, true, 1);
}

// The box-head case's gradient on the GPU, in `dtype`, with `opt`.
Tensor gpu_backward(const Case& c, DType dtype, const ops::RoiAlignOptions& opt) {
  const Tensor grad = test::to_gpu(test::random_tensor(pooled_shape(c), DType::kF32, 5), dtype);
  const Tensor rois = test::to_gpu(rois_f32(c), DType::kF32);
  Tensor gi = test::poisoned(map_shape(c), dtype, Device::cuda(0));
  ops::roi_align_backward(grad, rois, opt, gi);
  return gi.to(Device::cpu());
}

TEST(RoiAlignCuda, DeterministicBackwardIsBitwiseReproducible) {
  ATTNCAMP_REQUIRE_GPU();
  test::ScopedEnv unset(env::kDeterministic, nullptr);
  Case c = kBoxHead;
  c.channels = 256;
  for (const DType dt : kAllDtypes) {
    const Tensor first = gpu_backward(c, dt, options(c, true));
    for (int run = 0; run < 3; ++run) {
      const Tensor again = gpu_backward(c, dt, options(c, true));
      EXPECT_EQ(std::memcmp(first.raw_data(), again.raw_data(), first.nbytes()), 0) << dtype_name(dt) << " run " << run;
    }
    test::ScopedEnv on(env::kDeterministic, "1");  // the option off, the environment on
    const Tensor by_env = gpu_backward(c, dt, options(c, false));
    EXPECT_EQ(std::memcmp(first.raw_data(), by_env.raw_data(), first.nbytes()), 0) << dtype_name(dt);
  }
}

TEST(RoiAlignCuda, BadRoisNameTheRoiAndTheValue) {
  ATTNCAMP_REQUIRE_GPU();
  const Case c = small_cases()[0];  // 2 images
  const Tensor x = test::to_gpu(test::random_tensor(map_shape(c), DType::kF32, 1), DType::kBF16);
  Tensor out = test::poisoned(pooled_shape(c), DType::kBF16, Device::cuda(0));
  Tensor gi = test::poisoned(map_shape(c), DType::kBF16, Device::cuda(0));
  auto with = [&](int64_t k, int col, float v) {
    Tensor r = rois_f32(c);
    r.data<float>()[k * 5 + col] = v;
    return test::to_gpu(r, DType::kF32);
  };
  const Tensor batch_bad = with(7, 0, 2.0f), nan_bad = with(3, 4, std::nanf(""));
  test::expect_error([&] { ops::roi_align_forward(x, batch_bad, options(c), out); },
                     {"roi_align_forward: rois[7, 0]", "batch index of ROI 7", "[0, 2)", "got 2"});
  test::expect_error([&] { ops::roi_align_backward(out, nan_bad, options(c), gi); },
                     {"roi_align_backward: rois[3, 1:5]", "ROI 3", "finite", "nan)"});
  test::expect_error([&] { ops::roi_align_backward(out, nan_bad, options(c, true), gi); }, {"rois[3, 1:5]"});
  // The lowest failing ROI is named when several fail.
  Tensor two = rois_f32(c);
  two.data<float>()[9 * 5] = 0.5f;
  two.data<float>()[4 * 5 + 1] = INFINITY;
  test::expect_error([&] { ops::roi_align_forward(x, test::to_gpu(two, DType::kF32), options(c), out); },
                     {"rois[4, 1:5]"});
}

}  // namespace
}  // namespace attncamp
