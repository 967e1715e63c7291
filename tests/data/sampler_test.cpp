// Tests for epoch_permutation: a permutation of 0..n-1, identical for identical arguments,
// different across epochs and seeds, roughly uniform, and pinned to fixed values so that a
// change of algorithm (which would change every resumed run's order) is noticed.
#include "data/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "runtime/error.h"

namespace attncamp::data {
namespace {

TEST(Sampler, IsPermutation) {
  for (int64_t n : {0, 1, 2, 7, 1000, 60000}) {
    std::vector<int64_t> p = epoch_permutation(n, 1234, 3);
    ASSERT_EQ(static_cast<int64_t>(p.size()), n);
    std::sort(p.begin(), p.end());
    std::vector<int64_t> expected(static_cast<size_t>(n));
    std::iota(expected.begin(), expected.end(), int64_t{0});
    EXPECT_EQ(p, expected) << "n=" << n;
  }
}

TEST(Sampler, DeterministicAndVaries) {
  const auto a = epoch_permutation(1000, 42, 0);
  EXPECT_EQ(a, epoch_permutation(1000, 42, 0));
  EXPECT_NE(a, epoch_permutation(1000, 42, 1));
  EXPECT_NE(a, epoch_permutation(1000, 43, 0));
  std::vector<int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), int64_t{0});
  EXPECT_NE(a, identity);
}

TEST(Sampler, PinnedValues) {
  // Fixed by the algorithm (Philox key 7, stream kShuffle, counter epoch<<40|i); the same on
  // every machine. If this changes, resumed runs see a different order.
  EXPECT_EQ(epoch_permutation(10, 7, 2), (std::vector<int64_t>{3, 2, 7, 6, 9, 1, 5, 8, 0, 4}));
}

TEST(Sampler, RoughlyUniform) {
  // Position 0 of 4000 permutations of 8: each value should appear about 500 times.
  std::vector<int> counts(8, 0);
  for (int e = 0; e < 4000; ++e) counts[static_cast<size_t>(epoch_permutation(8, 99, e)[0])]++;
  for (int c : counts) {
    EXPECT_GT(c, 400);
    EXPECT_LT(c, 600);
  }
}

TEST(Sampler, RejectsBadArguments) {
  EXPECT_THROW(epoch_permutation(-1, 1, 0), Error);
  EXPECT_THROW(epoch_permutation(10, 1, -1), Error);
}

// Over all ranks and steps of an epoch, every sample is drawn exactly once, for dataset sizes not
// divisible by the world size or the global batch; every rank runs the same number of steps.
TEST(Sampler, DistributedShardsDrawEachSampleOnce) {
  for (int64_t n : {1, 7, 100, 1001}) {
    for (int64_t world : {1, 2, 3, 4}) {
      for (int64_t global_batch : {1, 8, 13}) {
        const auto perm = epoch_permutation(n, 5, 2);
        const int64_t steps = (n + global_batch - 1) / global_batch;
        std::vector<int> seen(static_cast<size_t>(n), 0);
        for (int64_t r = 0; r < world; ++r) {
          for (int64_t s = 0; s < steps; ++s) {
            const int64_t b = s * global_batch, count = std::min(n, b + global_batch) - b;
            const Range part = split_range(count, world, r);
            ASSERT_LE(part.size(), (count + world - 1) / world);
            for (int64_t i = part.begin; i < part.end; ++i) ++seen[perm[b + i]];
          }
        }
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << "n=" << n << " world=" << world << " sample " << i;
      }
    }
  }
}

TEST(Sampler, SplitRangeSizes) {
  EXPECT_EQ(split_range(10, 4, 0).begin, 0);
  EXPECT_EQ(split_range(10, 4, 0).size(), 3);
  EXPECT_EQ(split_range(10, 4, 1).begin, 3);
  EXPECT_EQ(split_range(10, 4, 2).size(), 2);
  EXPECT_EQ(split_range(10, 4, 3).end, 10);
  EXPECT_EQ(split_range(1, 4, 3).size(), 0);
  EXPECT_THROW(split_range(10, 4, 4), Error);
}

}  // namespace
}  // namespace attncamp::data
