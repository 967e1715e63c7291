// Inverted dropout with a counter-based mask: element i is kept iff
// philox_uniform(seed, RngStream::kDropout, offset + i) >= p (compared exactly), and kept
// values are scaled by 1/(1-p). The mask is never stored: backward regenerates it, and it is
// identical for f32 and f64, on every thread count, rank and device.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// y = x * mask / (1 - p). x, y: same shape, contiguous, one device; on the CPU one dtype (f32
// or f64), on CUDA each of f32, bf16 or f16 (computed in f32; an f32 y equals the CPU's bit for
// bit). p in [0, 1) (p == 0 copies). `offset` selects the counter range, so distinct call sites
// and steps use distinct offsets.
void dropout_forward(const Tensor& x, double p, uint64_t seed, uint64_t offset, Tensor& y);
// dx = dy * mask / (1 - p) with the same mask as the forward call with equal p, seed, offset.
void dropout_backward(const Tensor& dy, double p, uint64_t seed, uint64_t offset, Tensor& dx);

// The keep test u >= p of an f32 uniform u as an exact f32 comparison u >= dropout_threshold(p):
// the smallest float not below p.
float dropout_threshold(double p);

namespace cpu {
// out[i] = in[i] * keep(offset + i) * scale, scale = 1/(1-p). Used for both directions.
template <class T>
void dropout_apply(const T* in, T* out, int64_t n, double p, uint64_t seed, uint64_t offset);
}  // namespace cpu

#ifdef ATTNCAMP_WITH_CUDA
// CUDA launcher on the current stream of `device`: out[i] = in[i] * (keep(offset + i) ? scale : 0)
// with keep(c) = philox_uniform(seed, kDropout, c) >= threshold (threshold 0 keeps all).
// in / out: n elements of dtype it / ot (f32, bf16 or f16).
namespace cuda {
void dropout_apply(const void* in, DType it, void* out, DType ot, int64_t n, float threshold, float scale,
                   uint64_t seed, uint64_t offset, int device);
}  // namespace cuda
#endif

}  // namespace attncamp::ops
