// CPU dropout: Philox blocks give 4 uniforms each, so the bulk loop runs over aligned groups of
// 4 counter values (one Philox block per group), OpenMP-parallel and vectorised over groups.
// CUDA tensors go to ops/cuda/dropout.cu with the same threshold and scale.
#include "ops/dropout.h"

#include <algorithm>
#include <cmath>

#include "ops/dispatch.h"
#include "runtime/rng.h"

namespace attncamp::ops {

float dropout_threshold(double p) {
  float threshold = static_cast<float>(p);
  if (static_cast<double>(threshold) < p) threshold = std::nextafter(threshold, 2.0f);
  return threshold;
}

namespace cpu {
namespace {

// philox4x32(seed, stream, index) from runtime/rng.h with the rounds unrolled and the result in
// scalars, so the block loop vectorises cleanly (the struct-returning version vectorises through
// scatter stores and runs several times slower). The tests check it against philox_uniform.
inline void philox_block(uint64_t seed, uint64_t stream, uint64_t index, uint32_t& o0, uint32_t& o1, uint32_t& o2,
                         uint32_t& o3) {
  uint32_t c0 = static_cast<uint32_t>(index), c1 = static_cast<uint32_t>(index >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
#pragma GCC unroll 10
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  o0 = c0;
  o1 = c1;
  o2 = c2;
  o3 = c3;
}

}  // namespace

template <class T>
void dropout_apply(const T* in, T* out, int64_t n, double p, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  const float threshold = dropout_threshold(p);
  const uint64_t stream = static_cast<uint64_t>(RngStream::kDropout);
  // Elements before the first 4-aligned counter and after the last full block take one
  // Philox call each; the aligned middle takes one call per 4 elements.
  const int64_t head = std::min<int64_t>(n, static_cast<int64_t>((4 - (offset & 3)) & 3));
  const int64_t blocks = (n - head) / 4;
  const int64_t tail_start = head + 4 * blocks;
  const uint64_t first_block = (offset + static_cast<uint64_t>(head)) >> 2;
  auto one = [&](int64_t i) {
    const bool keep = philox_uniform(seed, stream, offset + static_cast<uint64_t>(i)) >= threshold;
    out[i] = in[i] * (keep ? scale : T(0));
  };
  for (int64_t i = 0; i < head; ++i) one(i);
  for (int64_t i = tail_start; i < n; ++i) one(i);
#pragma omp parallel for schedule(static)
  for (int64_t bi = 0; bi < blocks; ++bi) {
    uint32_t v0, v1, v2, v3;
    philox_block(seed, stream, first_block + static_cast<uint64_t>(bi), v0, v1, v2, v3);
    const int64_t i = head + 4 * bi;
    out[i] = in[i] * (uint_to_unit_float(v0) >= threshold ? scale : T(0));
    out[i + 1] = in[i + 1] * (uint_to_unit_float(v1) >= threshold ? scale : T(0));
    out[i + 2] = in[i + 2] * (uint_to_unit_float(v2) >= threshold ? scale : T(0));
    out[i + 3] = in[i + 3] * (uint_to_unit_float(v3) >= threshold ? scale : T(0));
  }
}

template void dropout_apply<float>(const float*, float*, int64_t, double, uint64_t, uint64_t);
template void dropout_apply<double>(const double*, double*, int64_t, double, uint64_t, uint64_t);

}  // namespace cpu

namespace {

// dropout_forward (in x, out y) or dropout_backward (in dy, out dx): `names` are in's and out's.
void run(const Tensor& in, double p, uint64_t seed, uint64_t offset, Tensor& out, const char* op,
         const char* const (&names)[2]) {
  const bool cuda = on_cuda(op, {&in, &out});
  check_arg(op, names[0], in, activation_dtypes(cuda));
  check_activation_like(op, names[1], out, in, cuda);
  ATTNCAMP_CHECK(p >= 0.0 && p < 1.0, op, ": dropout probability p must be in [0, 1); got ", p);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::dropout_apply(in.raw_data(), in.dtype(), out.raw_data(), out.dtype(), in.numel(), dropout_threshold(p),
                        static_cast<float>(1.0 / (1.0 - p)), seed, offset, in.device().index);
#endif
    return;
  }
  if (p == 0.0) {
    if (out.raw_data() != in.raw_data()) out.copy_from(in);
    return;
  }
  dispatch_float(in.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::dropout_apply(in.data<T>(), out.data<T>(), in.numel(), p, seed, offset);
  });
}

}  // namespace

void dropout_forward(const Tensor& x, double p, uint64_t seed, uint64_t offset, Tensor& y) {
  run(x, p, seed, offset, y, "dropout_forward", {"x", "y"});
}

void dropout_backward(const Tensor& dy, double p, uint64_t seed, uint64_t offset, Tensor& dx) {
  run(dy, p, seed, offset, dx, "dropout_backward", {"dy", "dx"});
}

}  // namespace attncamp::ops
