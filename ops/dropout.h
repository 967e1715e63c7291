// Inverted dropout with a counter-based mask: element i is kept iff
// philox_uniform(seed, RngStream::kDropout, offset + i) >= p (compared exactly), and kept
// values are scaled by 1/(1-p). The mask is never stored: backward regenerates it, and it is
// identical for f32 and f64, on every thread count, rank and device.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// y = x * mask / (1 - p). x, y: same shape, f32 or f64, contiguous, one device; p in [0, 1)
// (p == 0 copies). `offset` selects the counter range, so distinct call sites and steps use
// distinct offsets.
void dropout_forward(const Tensor& x, double p, uint64_t seed, uint64_t offset, Tensor& y);
// dx = dy * mask / (1 - p) with the same mask as the forward call with equal p, seed, offset.
void dropout_backward(const Tensor& dy, double p, uint64_t seed, uint64_t offset, Tensor& dx);

namespace cpu {
// out[i] = in[i] * keep(offset + i) * scale, scale = 1/(1-p). Used for both directions.
template <class T>
void dropout_apply(const T* in, T* out, int64_t n, double p, uint64_t seed, uint64_t offset);
}  // namespace cpu

}  // namespace attncamp::ops
