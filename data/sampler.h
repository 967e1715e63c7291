// Deterministic epoch shuffling: the order of samples in an epoch depends only on
// (n, seed, epoch), so every rank and machine computes the same permutation and a resumed
// run continues with exactly the order it would have had.
#pragma once

#include <cstdint>
#include <vector>

namespace attncamp::data {

// Permutation of 0..n-1 for `epoch` (>= 0): Fisher-Yates from the last position down, the
// swap partner for position i drawn from Philox4x32 (runtime/rng.h) with key `seed`, stream
// RngStream::kShuffle and counter (epoch << 40 | i). Requires n < 2^40 and epoch < 2^24.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace attncamp::data
