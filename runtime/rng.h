// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
// A draw depends only on (seed, stream, index), never on call order or
// thread, so every rank and device produces identical dropout masks and
// initialisations for the same seed. Usable from host and device code.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define ATTNCAMP_HD __host__ __device__ __forceinline__
#else
#define ATTNCAMP_HD inline
#endif

namespace attncamp {

struct Philox4 {
  uint32_t v[4];
};

// One Philox4x32-10 block: key from `seed`, counter (index, stream).
ATTNCAMP_HD Philox4 philox4x32(uint64_t seed, uint64_t stream, uint64_t index) {
  uint32_t c0 = static_cast<uint32_t>(index), c1 = static_cast<uint32_t>(index >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n1 = static_cast<uint32_t>(p1);
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    const uint32_t n3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform float in [0, 1) from 24 random bits.
ATTNCAMP_HD float uint_to_unit_float(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

// Element `i` of a uniform [0,1) sequence identified by (seed, stream).
ATTNCAMP_HD float philox_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
  const Philox4 r = philox4x32(seed, stream, i >> 2);
  return uint_to_unit_float(r.v[i & 3]);
}

// Element `i` of a standard normal sequence (Box-Muller on one Philox block).
ATTNCAMP_HD float philox_normal(uint64_t seed, uint64_t stream, uint64_t i) {
  const Philox4 r = philox4x32(seed, stream, i >> 1);
  const int pair = static_cast<int>(i & 1) * 2;
  const float u1 = (static_cast<float>(r.v[pair] >> 8) + 1.0f) * (1.0f / 16777216.0f);  // (0,1]
  const float u2 = uint_to_unit_float(r.v[pair + 1]);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

// Stream ids that separate independent uses of one seed.
enum class RngStream : uint64_t { kInit = 1, kDropout = 2, kShuffle = 3, kAugment = 4, kTest = 99 };

}  // namespace attncamp
