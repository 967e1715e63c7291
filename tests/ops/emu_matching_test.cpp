// CPU emulation of the matching and sampling kernels (ops/cuda/matching_kernels.cuh,
// matching_sampler.cuh): g++ compiles the real kernel headers against tests/emu, and this file
// chains them as ops/cuda/matching.cu and matching_sampler.cu do, with the CUB steps (stable radix
// sort, flagged selection) done on the host the way CUB defines them. Matches and samples must
// equal the CPU reference's exactly, under several thread interleavings; outputs are poisoned
// first, so an element the kernels never write shows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "cuda_emu.h"  // before the kernel headers: the CUDA built-ins they use under g++
#include "ops/cuda/matching_kernels.cuh"
#include "ops/cuda/matching_sampler.cuh"
#include "ops/matching.h"
#include "ops/matching_sampler.h"
#include "tests/ops/emu_schedules.h"
#include "tests/ops/nms_test_data.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

namespace mk = ops::cuda::match_kernels;
namespace sk = ops::cuda::sample_kernels;
using test::int64_values;

constexpr int64_t kPoison = std::numeric_limits<int64_t>::min();

dim3 grid_for(int64_t n, int threads) {
  return dim3(static_cast<unsigned>(std::max<int64_t>(1, (n + threads - 1) / threads)));
}

// ops/cuda/matching.cu through the emulator.
std::vector<int64_t> emu_match(const Tensor& iou, const ops::MatcherOptions& o, const test::EmuSchedule& s) {
  const int64_t G = iou.size(0), P = iou.size(1);
  std::vector<uint32_t> highest(static_cast<size_t>(G), 0);  // cudaMemsetAsync(0)
  std::vector<int64_t> matches(static_cast<size_t>(P), kPoison);
  mk::MatchParams mp;
  mp.gts = G;
  mp.proposals = P;
  mp.iou = iou.data<float>();
  mp.high = static_cast<float>(o.high_threshold);
  mp.low = static_cast<float>(o.low_threshold);
  mp.matches = matches.data();
  if (o.allow_low_quality_matches && G > 0) {
    mk::HighestParams hp;
    hp.gts = G;
    hp.proposals = P;
    hp.iou = iou.data<float>();
    hp.highest = highest.data();
    const int64_t per_block = int64_t{mk::kThreads} * mk::kHighestPerThread;
    emu::launch(
        dim3(static_cast<unsigned>((P + per_block - 1) / per_block), static_cast<unsigned>(G)), dim3(mk::kThreads), 0,
        [&] { mk::highest_kernel(hp); }, test::emu_options(s));
    mp.highest = highest.data();
  }
  emu::launch(
      grid_for(P, mk::kThreads), dim3(mk::kThreads), 0, [&] { mk::match_kernel(mp); }, test::emu_options(s));
  return matches;
}

std::vector<int64_t> cpu_match(const Tensor& iou, const ops::MatcherOptions& o) {
  Tensor m = Tensor::empty({iou.size(1)}, DType::kI64);
  ops::match_proposals(iou, o, m);
  return int64_values(m);
}

TEST(EmuMatching, MatchesTheCpu) {
  int run = 0;
  for (int64_t G : {0, 1, 3, 20}) {
    for (int64_t P : {1, 31, 2100}) {
      const Tensor iou = test::quality_matrix(G, P, 10 + G * 7 + P);
      for (bool allow : {false, true}) {
        ops::MatcherOptions o;
        o.high_threshold = 0.625;
        o.low_threshold = 0.25;
        o.allow_low_quality_matches = allow;
        EXPECT_EQ(emu_match(iou, o, test::kEmuSchedules[run++ % test::kEmuSchedules.size()]), cpu_match(iou, o))
            << G << " x " << P << ", low quality " << allow;
      }
    }
  }
}

// The stable order of keys[0, n) ascending (what CUB's radix sort of (key, value) pairs gives).
std::vector<int64_t> stable_order(const std::vector<uint64_t>& keys) {
  std::vector<int64_t> idx(keys.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  return idx;
}

// ops/cuda/matching_sampler.cu through the emulator.
std::pair<std::vector<int64_t>, std::vector<int64_t>> emu_sample(const std::vector<int64_t>& labels, int64_t batch,
                                                                 double fraction, const ops::SampleKey& key,
                                                                 const test::EmuSchedule& s) {
  const int64_t n = static_cast<int64_t>(labels.size());
  std::vector<uint64_t> keys(static_cast<size_t>(n), 0xA5A5A5A5A5A5A5A5ull);
  std::vector<int32_t> values(static_cast<size_t>(n), -3);
  sk::KeysParams kp;
  kp.n = n;
  kp.labels = labels.data();
  kp.step_seed = ops::sampler_step_seed(key.seed, key.step);
  kp.image = key.image;
  kp.keys = keys.data();
  kp.values = values.data();
  emu::launch(
      grid_for(n, sk::kThreads), dim3(sk::kThreads), 0, [&] { sk::keys_kernel(kp); }, test::emu_options(s));
  const std::vector<int64_t> perm = stable_order(keys);
  std::vector<uint64_t> sorted(static_cast<size_t>(n));
  std::vector<int32_t> order(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    sorted[k] = keys[perm[k]];
    order[k] = values[perm[k]];
  }
  std::vector<int64_t> starts(4, kPoison);
  sk::BoundsParams bp;
  bp.n = n;
  bp.sorted_keys = sorted.data();
  bp.starts = starts.data();
  emu::launch(
      grid_for(n, sk::kThreads), dim3(sk::kThreads), 0, [&] { sk::bounds_kernel(bp); }, test::emu_options(s));
  std::vector<uint8_t> flags(static_cast<size_t>(2 * n), 0xA5);
  sk::SelectParams sp;
  sp.n = n;
  sp.sorted_keys = sorted.data();
  sp.order = order.data();
  sp.starts = starts.data();
  sp.max_positive = static_cast<int64_t>(static_cast<double>(batch) * fraction);
  sp.batch = batch;
  sp.positive = flags.data();
  sp.negative = flags.data() + n;
  emu::launch(
      grid_for(n, sk::kThreads), dim3(sk::kThreads), 0, [&] { sk::select_kernel(sp); }, test::emu_options(s));
  std::pair<std::vector<int64_t>, std::vector<int64_t>> out;
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_LE(flags[i], 1) << "positive flag " << i << " not written";
    EXPECT_LE(flags[n + i], 1) << "negative flag " << i << " not written";
    if (flags[i] == 1) out.first.push_back(values[i]);  // values: the identity, as the selection reads it
    if (flags[n + i] == 1) out.second.push_back(values[i]);
  }
  return out;
}

TEST(EmuSampler, MatchesTheCpu) {
  int run = 0;
  for (int64_t n : {1, 40, 3000}) {
    for (int64_t positives_per_8 : {0, 1, 3}) {
      std::vector<int64_t> labels(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = (i * 5) % 8;
        labels[i] = r < positives_per_8 ? 1 + i % 4 : r < positives_per_8 + 3 ? 0 : -1;
      }
      Tensor t = Tensor::empty({n}, DType::kI64);
      std::copy(labels.begin(), labels.end(), t.data<int64_t>());
      for (int64_t batch : {16, 512}) {
        ops::SamplerOptions o;
        o.batch_size_per_image = batch;
        o.positive_fraction = 0.25;
        const ops::SampleKey key{5, 17 + static_cast<uint64_t>(run), 2};
        const ops::BalancedSample want = ops::balanced_sample(t, o, key);
        const auto got = emu_sample(labels, batch, 0.25, key, test::kEmuSchedules[run++ % test::kEmuSchedules.size()]);
        EXPECT_EQ(got.first, int64_values(want.positive)) << n << " candidates, batch " << batch;
        EXPECT_EQ(got.second, int64_values(want.negative)) << n << " candidates, batch " << batch;
      }
    }
  }
}

}  // namespace
}  // namespace attncamp
