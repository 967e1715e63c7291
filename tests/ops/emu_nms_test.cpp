// CPU emulation of the NMS and top-k kernels (ops/cuda/nms_kernels.cuh, nms_topk.cuh): g++ compiles
// the real kernel headers against tests/emu, and this file chains them as ops/cuda/nms.cu does, with
// the CUB steps (radix sorts, flagged selection) done on the host the way CUB defines them (stable
// sorts by key, selection in order). Keep lists must equal the CPU reference's exactly, for plain,
// class-aware and per-class NMS, with pre-selection, under several thread interleavings. Outputs
// and the bitmask are poisoned first, so a word or flag the kernels never write shows. Built with
// -ffp-contract=off, like the CPU reference, so the IoU rounds as on the GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "cuda_emu.h"  // before the kernel headers: the CUDA built-ins they use under g++
#include "ops/cuda/nms_kernels.cuh"
#include "ops/cuda/nms_topk.cuh"
#include "ops/nms.h"
#include "ops/nms_topk.h"
#include "tests/ops/emu_schedules.h"
#include "tests/ops/nms_test_data.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

namespace k = ops::cuda::nms_kernels;
using test::clustered_boxes;
using test::int64_values;

constexpr int kThreads = 256;

dim3 grid_for(int64_t n) { return dim3(static_cast<unsigned>(std::max<int64_t>(1, (n + kThreads - 1) / kThreads))); }

// The stable order of keys[0, n) ascending (what CUB's radix sort of (key, value) pairs gives).
template <class K>
std::vector<int32_t> stable_order(const K* keys, int64_t n) {
  std::vector<int32_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return keys[a] < keys[b]; });
  return idx;
}

// The score order through keys_kernel and a host radix sort.
std::vector<int32_t> emu_score_order(const Tensor& scores, const test::EmuSchedule& s) {
  const int64_t n = scores.numel();
  std::vector<uint32_t> keys(static_cast<size_t>(n), 0xA5A5A5A5u);
  std::vector<int32_t> values(static_cast<size_t>(n), -7);
  k::KeysParams p;
  p.n = n;
  p.scores = scores.data<float>();
  p.keys = keys.data();
  p.values = values.data();
  emu::launch(
      grid_for(n), dim3(kThreads), 0, [&] { k::keys_kernel(p); }, test::emu_options(s));
  const std::vector<int32_t> perm = stable_order(keys.data(), n);
  std::vector<int32_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = values[perm[i]];
  return order;
}

// ops/cuda/nms.cu's pipeline through the emulator.
std::vector<int64_t> emu_nms(const test::DetectionInputs& in, bool classes, bool per_class, double thr,
                             int64_t max_candidates, const test::EmuSchedule& s) {
  const int64_t n = in.scores.numel();
  const int64_t m = max_candidates < 0 ? n : std::min(n, max_candidates);
  std::vector<int32_t> order = emu_score_order(in.scores, s);
  std::vector<int64_t> cls(static_cast<size_t>(m), std::numeric_limits<int64_t>::min());
  std::vector<int32_t> ranks;
  if (per_class) {
    std::vector<int64_t> class_keys(static_cast<size_t>(m));
    std::vector<int32_t> positions(static_cast<size_t>(m));
    k::ClassKeysParams c;
    c.m = m;
    c.order = order.data();
    c.class_ids = in.class_ids.data<int64_t>();
    c.class_keys = class_keys.data();
    c.ranks = positions.data();
    emu::launch(
        grid_for(m), dim3(kThreads), 0, [&] { k::class_keys_kernel(c); }, test::emu_options(s));
    const std::vector<int32_t> perm = stable_order(class_keys.data(), m);
    ranks.resize(static_cast<size_t>(m));
    for (int64_t j = 0; j < m; ++j) {
      cls[j] = class_keys[perm[j]];
      ranks[j] = positions[perm[j]];
    }
  }
  std::vector<float4> sorted(static_cast<size_t>(m), make_float4(-1, -1, -1, -1));
  std::vector<float> area(static_cast<size_t>(m), -1.0f);
  k::GatherParams g;
  g.m = m;
  g.order = order.data();
  g.ranks = per_class ? ranks.data() : nullptr;
  g.boxes = in.boxes.data<float>();
  g.class_ids = in.class_ids.data<int64_t>();
  g.sorted = sorted.data();
  g.area = area.data();
  g.classes = classes && !per_class ? cls.data() : nullptr;
  emu::launch(
      grid_for(m), dim3(kThreads), 0, [&] { k::gather_kernel(g); }, test::emu_options(s));

  const int64_t col_blocks = (m + k::kBlockBoxes - 1) / k::kBlockBoxes;
  std::vector<uint64_t> mask(static_cast<size_t>(m * col_blocks), 0xDEADBEEFDEADBEEFull);
  k::MaskParams mp;
  mp.m = m;
  mp.col_blocks = col_blocks;
  mp.boxes = sorted.data();
  mp.area = area.data();
  mp.classes = classes ? cls.data() : nullptr;
  mp.classes_sorted = per_class;
  mp.threshold = ops::nms_threshold<float>(thr);
  mp.mask = mask.data();
  emu::launch(
      dim3(static_cast<unsigned>(col_blocks), static_cast<unsigned>(col_blocks)), dim3(k::kBlockBoxes), 0,
      [&] { k::mask_kernel(mp); }, test::emu_options(s));
  std::vector<uint8_t> keep_flags(static_cast<size_t>(m), 0xA5);
  k::SweepParams sp;
  sp.m = m;
  sp.col_blocks = col_blocks;
  sp.mask = mask.data();
  sp.classes = mp.classes;
  sp.classes_sorted = per_class;
  sp.ranks = g.ranks;
  sp.keep = keep_flags.data();
  const unsigned sweep_grid = per_class ? static_cast<unsigned>(std::min<int64_t>(m, k::kMaxSweepBlocks)) : 1;
  emu::launch(
      dim3(sweep_grid), dim3(k::kSweepThreads), k::sweep_smem_bytes(col_blocks), [&] { k::sweep_kernel(sp); },
      test::emu_options(s));

  std::vector<int32_t> kept;
  for (int64_t j = 0; j < m; ++j) {
    EXPECT_TRUE(keep_flags[j] == 0 || keep_flags[j] == 1) << "keep flag " << j << " not written";
    if (keep_flags[j] == 1) kept.push_back(order[j]);
  }
  std::vector<int64_t> keep(kept.size(), -9);
  k::WidenParams w;
  w.n = static_cast<int64_t>(kept.size());
  w.in = kept.data();
  w.out = keep.data();
  emu::launch(
      grid_for(w.n), dim3(kThreads), 0, [&] { k::widen_kernel(w); }, test::emu_options(s));
  return keep;
}

TEST(EmuNms, PlainNmsMatchesTheCpu) {
  int run = 0;
  for (int64_t n : {1, 63, 64, 65, 200, 700}) {
    for (double thr : {0.3, 0.7}) {
      const auto in = clustered_boxes(n, std::max<int64_t>(1, n / 8), 1, 500 + n);
      const std::vector<int64_t> want = int64_values(ops::nms(in.boxes, in.scores, thr));
      EXPECT_EQ(emu_nms(in, false, false, thr, -1, test::kEmuSchedules[run++ % test::kEmuSchedules.size()]), want)
          << n << " boxes";
    }
  }
}

TEST(EmuNms, BatchedPathsMatchTheCpu) {
  int run = 0;
  for (int64_t n : {5, 130, 700}) {
    for (int64_t classes : {1, 4, 80}) {
      const auto in = clustered_boxes(n, std::max<int64_t>(1, n / 10), classes, 600 + n + classes);
      const std::vector<int64_t> want = int64_values(ops::batched_nms(in.boxes, in.scores, in.class_ids, 0.5));
      for (bool per_class : {false, true}) {
        EXPECT_EQ(emu_nms(in, true, per_class, 0.5, -1, test::kEmuSchedules[run++ % test::kEmuSchedules.size()]), want)
            << n << " boxes, " << classes << " classes, per class " << per_class;
      }
    }
  }
}

TEST(EmuNms, PreselectionMatchesTheCpu) {
  const auto in = clustered_boxes(900, 90, 6, 7);
  ops::NmsOptions opt;
  opt.max_candidates = 333;
  EXPECT_EQ(emu_nms(in, false, false, 0.5, 333, test::kEmuSchedules[0]),
            int64_values(ops::nms(in.boxes, in.scores, 0.5, opt)));
  EXPECT_EQ(emu_nms(in, true, true, 0.5, 333, test::kEmuSchedules[1]),
            int64_values(ops::batched_nms(in.boxes, in.scores, in.class_ids, 0.5, opt)));
}

TEST(EmuNms, ScoreOrderMatchesTopkIndices) {
  Tensor s = test::random_tensor({3000}, DType::kF32, 3);
  for (int64_t i = 0; i < 3000; i += 5) s.data<float>()[i] = 0.5f;
  s.data<float>()[10] = -0.0f;
  s.data<float>()[11] = 0.0f;
  s.data<float>()[12] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<int32_t> order = emu_score_order(s, test::kEmuSchedules[1]);
  const std::vector<int64_t> want = int64_values(ops::topk_indices(s, 3000));
  EXPECT_TRUE(std::equal(order.begin(), order.end(), want.begin()));
}

}  // namespace
}  // namespace attncamp
