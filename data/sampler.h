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

// Distributed sampling (global batch semantics): every rank computes the same epoch
// permutation; global step s covers positions [s*G, min(n, (s+1)*G)) of it for global batch G;
// rank r of N takes a contiguous part of that global batch (split_range(count, N, r)). So every
// sample is drawn exactly once per epoch over all ranks, nothing is duplicated to pad, every rank
// runs ceil(n / G) steps (a rank's part of the last global batch may be smaller, or empty), and
// the set of samples in a step does not depend on N: N ranks reproduce one rank's optimization.
struct Range {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
// Part `part` of `parts` contiguous parts of [0, count): sizes differ by at most one, the first
// count % parts parts being the larger.
Range split_range(int64_t count, int64_t parts, int64_t part);

}  // namespace attncamp::data
