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

}  // namespace
}  // namespace attncamp::data
