// Fisher-Yates with counter-based randomness: position i takes 64 random bits from one
// Philox block and maps them to [0, i] by a 64x64->128-bit multiply (bias below i / 2^64,
// i.e. < 1e-7 even for 2^40 samples), so no state is carried between draws.
#include "data/sampler.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "runtime/error.h"
#include "runtime/rng.h"

namespace attncamp::data {

namespace {
constexpr int kPositionBits = 40;
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  ATTNCAMP_CHECK(n >= 0 && n < (int64_t{1} << kPositionBits), "epoch_permutation: n = ", n, " must be in [0, 2^40)");
  ATTNCAMP_CHECK(epoch >= 0 && epoch < (int64_t{1} << (64 - kPositionBits)), "epoch_permutation: epoch = ", epoch,
                 " must be in [0, 2^24)");
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  const uint64_t stream = static_cast<uint64_t>(RngStream::kShuffle);
  const uint64_t base = static_cast<uint64_t>(epoch) << kPositionBits;
  for (int64_t i = n - 1; i > 0; --i) {
    const Philox4 r = philox4x32(seed, stream, base | static_cast<uint64_t>(i));
    const uint64_t bits = (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
    const auto j = static_cast<int64_t>((static_cast<unsigned __int128>(bits) * static_cast<uint64_t>(i + 1)) >> 64);
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  return perm;
}

Range split_range(int64_t count, int64_t parts, int64_t part) {
  ATTNCAMP_CHECK(parts > 0 && part >= 0 && part < parts && count >= 0, "split_range: part ", part, " of ", parts,
                 " over ", count, " is out of range");
  const int64_t base = count / parts, extra = count % parts;
  Range r;
  r.begin = part * base + std::min(part, extra);
  r.end = r.begin + base + (part < extra ? 1 : 0);
  return r;
}

}  // namespace attncamp::data
