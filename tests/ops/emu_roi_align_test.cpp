// CPU emulation of the CUDA RoIAlign kernels (ops/cuda/roi_align.cuh, compiled by g++ against
// tests/emu): the prepare kernel's checks, the forward, the atomic backward (with the rounding
// kernel for 16-bit gradients) and the deterministic gather backward, in f32, bf16 and f16, with
// channel vectors and without, on full grids and on grids too small for the work (grid-stride
// loops), compared with the CPU reference: f32 kernels against the CPU in f32, 16-bit ones by the
// precision rule max|out - ref64| <= 2 max|ref_lowp - ref64| + eps. The gather backward must also
// give the same bits under every schedule and worker count. This checks kernel logic without a
// GPU, not the hardware's rounding or memory model (the GPU parity tests do).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda_emu.h"  // before the kernel headers: the CUDA built-ins they use under g++
#include "ops/cuda/roi_align.cuh"
#include "ops/roi_align.h"
#include "tests/cuda_test_util.h"
#include "tests/ops/roi_align_test_cases.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

namespace roi = ops::cuda::roi;
using test::roi_align::Case;
using test::roi_align::map_shape;
using test::roi_align::options;
using test::roi_align::pooled_shape;
using test::roi_align::random_rois;
using test::roi_align::small_cases;

// f32 kernels against the CPU in f32 (which sums in double): f32 sums of up to a few thousand
// terms; relative to 1 + max|ref|.
constexpr double kF32Tol = 1e-5;
// eps of the 16-bit rule, relative to 1 + max|ref64|.
constexpr double kLowpEps = 1e-5;

template <typename T>
constexpr DType kDType = std::is_same_v<T, float>    ? DType::kF32
                         : std::is_same_v<T, __half> ? DType::kF16
                                                     : DType::kBF16;

template <typename T>
constexpr int kVecOf = 16 / static_cast<int>(sizeof(T));

emu::LaunchOptions schedule(int variant) {
  emu::LaunchOptions o;
  o.workers = variant % 2 == 0 ? 4 : 1;
  o.schedule = variant % 2 == 0 ? emu::Schedule::kWarpByWarp : emu::Schedule::kLockstep;
  o.reverse = variant % 3 == 1;
  return o;
}

// The launcher's view of a case.
ops::cuda::RoiAlignShape shape_of(const Case& c) {
  ops::cuda::RoiAlignShape s;
  s.batch = c.batch;
  s.height = c.height;
  s.width = c.width;
  s.channels = c.channels;
  s.num_rois = c.rois;
  s.pooled_h = c.pooled_h;
  s.pooled_w = c.pooled_w;
  s.spatial_scale = static_cast<float>(c.spatial_scale);
  s.sampling_ratio = static_cast<int>(c.sampling_ratio > 0 ? c.sampling_ratio : 0);
  return s;
}

// The prepare kernel's outputs: geometry [K] and the lowest failing ROI.
struct Prepared {
  std::vector<roi::RoiGeom> geom;
  unsigned long long first_bad = roi::kNoBadRoi;
};

Prepared prepare(const Case& c, const Tensor& rois32, const emu::LaunchOptions& opt) {
  Prepared w;
  w.geom.resize(static_cast<size_t>(c.rois));
  std::memset(static_cast<void*>(w.geom.data()), 0xff, w.geom.size() * sizeof(roi::RoiGeom));
  const roi::PrepareParams p = roi::prepare_params(shape_of(c), rois32.data<float>(), w.geom.data(), &w.first_bad);
  emu::launch(
      dim3(roi::blocks_for(c.rois)), dim3(roi::kThreads), 0, [&] { roi::prepare_kernel(p); }, opt);
  return w;
}

// Blocks for `items`, or at most `cap` blocks (0: no cap) so the grid-stride loops go round.
unsigned grid_for(int64_t items, unsigned cap) {
  const unsigned b = roi::blocks_for(items);
  return cap > 0 && b > cap ? cap : b;
}

template <typename T, int kVec>
Tensor emu_forward(const Case& c, const Tensor& map, const Prepared& w, unsigned cap, const emu::LaunchOptions& opt) {
  Tensor out = Tensor::empty(pooled_shape(c), kDType<T>);
  out.poison();
  roi::ForwardParams<T> p;
  p.d = roi::dims_of(shape_of(c));
  p.geom = w.geom.data();
  p.input = static_cast<const T*>(map.raw_data());
  p.output = static_cast<T*>(out.raw_data());
  const int64_t items = c.rois * c.pooled_h * c.pooled_w * (c.channels / kVec);
  emu::launch(
      dim3(grid_for(items, cap)), dim3(roi::kThreads), 0, [&] { roi::forward_kernel<T, kVec>(p); }, opt);
  return out;
}

template <typename T, int kVec>
Tensor emu_backward(const Case& c, const Tensor& grad, const Prepared& w, bool deterministic, unsigned cap,
                    const emu::LaunchOptions& opt) {
  Tensor gi = Tensor::empty(map_shape(c), kDType<T>);
  gi.poison();
  roi::BackwardParams<T> p;
  p.d = roi::dims_of(shape_of(c));
  p.geom = w.geom.data();
  p.grad_output = static_cast<const T*>(grad.raw_data());
  p.grad_input = static_cast<T*>(gi.raw_data());
  if (deterministic) {
    const int64_t items = c.batch * c.height * c.width * (c.channels / kVec);
    emu::launch(
        dim3(grid_for(items, cap)), dim3(roi::kThreads), 0, [&] { roi::backward_gather_kernel<T, kVec>(p); }, opt);
    return gi;
  }
  // As the launcher: f32 gradients accumulate in place, 16-bit ones in an f32 workspace.
  Tensor accum = std::is_same_v<T, float> ? gi : Tensor::empty(map_shape(c), DType::kF32);
  std::memset(accum.raw_data(), 0, accum.nbytes());
  p.accum = accum.data<float>();
  const int64_t items = c.rois * c.pooled_h * c.pooled_w * (c.channels / kVec);
  emu::launch(
      dim3(grid_for(items, cap)), dim3(roi::kThreads), 0, [&] { roi::backward_atomic_kernel<T, kVec>(p); }, opt);
  if constexpr (!std::is_same_v<T, float>) {
    const int64_t n = gi.numel();
    emu::launch(
        dim3(grid_for(n, cap)), dim3(roi::kThreads), 0, [&] { roi::round_kernel<T>(p.accum, p.grad_input, n); }, opt);
  }
  return gi;
}

// The CPU references of one pass on the values a kernel of `dt` reads: f64, and f32 with the output
// rounded through dt (for f32 kernels, the CPU f32 result itself).
struct Refs {
  Tensor ref64, ref_lowp;
};

template <class Op>
Refs references(const Tensor& in64, const Tensor& rois32, DType dt, Op op) {
  Refs r;
  r.ref64 = op(in64, test::to_dtype(rois32, DType::kF64));
  r.ref_lowp = test::round_through(op(test::to_dtype(in64, DType::kF32), rois32), dt);
  return r;
}

void expect_matches(const Tensor& out, const Refs& r, DType dt, const std::string& what) {
  const Tensor o = test::to_host_f64(out);
  if (dt == DType::kF32) {
    EXPECT_LE(test::max_abs_diff(o, r.ref_lowp), kF32Tol * (1.0 + test::max_abs(r.ref_lowp))) << what;
  } else {
    EXPECT_LE(test::max_abs_diff(o, r.ref64),
              test::lowp_tolerance(r.ref64, r.ref_lowp, kLowpEps * (1.0 + test::max_abs(r.ref64))))
        << what;
  }
}

// Every case in T with channel vectors of kVec (when C allows) and of 1, full and capped grids.
template <typename T>
void check_all() {
  constexpr DType dt = kDType<T>;
  int variant = 0;
  for (const Case& c : small_cases()) {
    const Tensor map64 = test::round_through(test::random_tensor(map_shape(c), DType::kF32, c.seed), dt);
    const Tensor grad64 = test::round_through(test::random_tensor(pooled_shape(c), DType::kF32, c.seed + 1), dt);
    const Tensor rois32 = test::to_dtype(random_rois(c), DType::kF32);
    const Tensor map = test::to_dtype(map64, dt), grad = test::to_dtype(grad64, dt);
    const ops::RoiAlignOptions opt = options(c);
    const Refs fwd = references(map64, rois32, dt, [&](const Tensor& x, const Tensor& r) {
      Tensor out = Tensor::empty(pooled_shape(c), x.dtype());
      ops::roi_align_forward(x, r, opt, out);
      return out;
    });
    const Refs bwd = references(grad64, rois32, dt, [&](const Tensor& g, const Tensor& r) {
      Tensor gi = Tensor::empty(map_shape(c), g.dtype());
      ops::roi_align_backward(g, r, opt, gi);
      return gi;
    });
    const Prepared w = prepare(c, rois32, schedule(variant));
    ASSERT_EQ(w.first_bad, roi::kNoBadRoi) << c.name;
    for (const unsigned cap : {0u, 2u}) {
      const emu::LaunchOptions run = schedule(variant++);
      const std::string what = std::string(c.name) + " " + dtype_name(dt) + (cap > 0 ? " (2 blocks)" : "");
      auto both = [&](auto vec) {
        constexpr int kVec = decltype(vec)::value;
        const std::string v = what + " vec " + std::to_string(kVec);
        expect_matches(emu_forward<T, kVec>(c, map, w, cap, run), fwd, dt, v + " forward");
        expect_matches(emu_backward<T, kVec>(c, grad, w, false, cap, run), bwd, dt, v + " atomic backward");
        const Tensor det = emu_backward<T, kVec>(c, grad, w, true, cap, run);
        expect_matches(det, bwd, dt, v + " deterministic backward");
        const Tensor again = emu_backward<T, kVec>(c, grad, w, true, cap == 0 ? 1 : 0, schedule(variant + 1));
        EXPECT_EQ(std::memcmp(det.raw_data(), again.raw_data(), det.nbytes()), 0) << v << " not reproducible";
      };
      both(std::integral_constant<int, 1>{});
      if (c.channels % kVecOf<T> == 0) both(std::integral_constant<int, kVecOf<T>>{});
    }
  }
}

TEST(RoiAlignEmu, F32MatchesTheCpuReference) { check_all<float>(); }
TEST(RoiAlignEmu, Bf16MatchesTheCpuReference) { check_all<__nv_bfloat16>(); }
TEST(RoiAlignEmu, F16MatchesTheCpuReference) { check_all<__half>(); }

// The prepare kernel flags the lowest failing ROI, marks every failing one skipped, and the
// kernels write zeros for them (forward) or leave them out (backward).
TEST(RoiAlignEmu, PrepareFlagsTheFirstBadRoiAndKernelsSkipBadOnes) {
  const Case c = small_cases()[0];
  Tensor rois32 = test::to_dtype(random_rois(c), DType::kF32);
  float* r = rois32.data<float>();
  r[9 * 5 + 0] = 0.5f;           // batch index not an integer
  r[5 * 5 + 2] = std::nanf("");  // NaN coordinate
  r[17 * 5 + 0] = 2.0f;          // batch index out of range (B = 2)
  r[20 * 5 + 3] = 1e6f;          // adaptive grid far above kMaxSamplingGrid
  const Prepared w = prepare(c, rois32, schedule(0));
  EXPECT_EQ(w.first_bad, 5u);
  for (const int k : {5, 9, 17, 20}) EXPECT_EQ(w.geom[static_cast<size_t>(k)].batch, -1) << "ROI " << k;
  EXPECT_EQ(w.geom[0].batch, 1);  // (0 * 5 + 1) % 2

  const Tensor map = test::random_tensor(map_shape(c), DType::kF32, 7);
  const Tensor out = emu_forward<float, 4>(c, map, w, 0, schedule(1));
  const int64_t per_roi = c.pooled_h * c.pooled_w * c.channels;
  for (const int k : {5, 9, 17, 20}) {
    for (int64_t i = 0; i < per_roi; ++i) ASSERT_EQ(out.data<float>()[k * per_roi + i], 0.0f) << "ROI " << k;
  }
  // The gradient of the remaining ROIs: grad_output zero on the bad ones gives the same result.
  Tensor grad = test::random_tensor(pooled_shape(c), DType::kF32, 8);
  const Tensor with_bad = emu_backward<float, 4>(c, grad, w, true, 0, schedule(0));
  for (const int k : {5, 9, 17, 20}) std::memset(grad.data<float>() + k * per_roi, 0, per_roi * sizeof(float));
  for (const int k : {5, 9, 17, 20}) {
    r[k * 5 + 0] = 0;
    r[k * 5 + 1] = r[k * 5 + 2] = 1;
    r[k * 5 + 3] = r[k * 5 + 4] = 2;
  }
  const Prepared good = prepare(c, rois32, schedule(0));
  EXPECT_EQ(good.first_bad, roi::kNoBadRoi);
  EXPECT_EQ(std::memcmp(with_bad.raw_data(), emu_backward<float, 4>(c, grad, good, true, 0, schedule(0)).raw_data(),
                        with_bad.nbytes()),
            0);
}

}  // namespace
}  // namespace attncamp
