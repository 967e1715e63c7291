// CPU dtype conversion: one OpenMP loop per (source, destination) dtype pair, each element read
// as double (exact for every source dtype) and rounded once to the destination (through f32 for
// the 16-bit types, as runtime/half.h converts from float). Also the tensor-level cast with its
// checks and device dispatch (CUDA kernels in ops/cuda/cast.cu).
#include "ops/cast.h"

#include <cstring>

#include "ops/dispatch.h"
#include "runtime/half.h"

namespace attncamp::ops {
namespace cpu {
namespace {

inline double to_f64(float v) { return v; }
inline double to_f64(double v) { return v; }
inline double to_f64(BFloat16 v) { return bf16_to_float(v); }
inline double to_f64(Float16 v) { return f16_to_float(v); }

template <class D>
D from_f64(double v);
template <>
float from_f64<float>(double v) {
  return static_cast<float>(v);
}
template <>
double from_f64<double>(double v) {
  return v;
}
template <>
BFloat16 from_f64<BFloat16>(double v) {
  return float_to_bf16(static_cast<float>(v));
}
template <>
Float16 from_f64<Float16>(double v) {
  return float_to_f16(static_cast<float>(v));
}

template <class S, class D>
void convert(const S* src, D* dst, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) dst[i] = from_f64<D>(to_f64(src[i]));
}

}  // namespace

void cast(const void* src, DType st, void* dst, DType dt, int64_t n) {
  if (n <= 0) return;
  if (st == dt) {
    if (src != dst) std::memcpy(dst, src, static_cast<size_t>(n) * dtype_size(st));
    return;
  }
  dispatch_any_float(st, "cast (source)", [&](auto s_tag) {
    using S = decltype(s_tag);
    dispatch_any_float(dt, "cast (destination)", [&](auto d_tag) {
      using D = decltype(d_tag);
      convert(static_cast<const S*>(src), static_cast<D*>(dst), n);
    });
  });
}

}  // namespace cpu

void cast(const Tensor& src, Tensor& dst) {
  const char* op = "cast";
  const bool cuda = on_cuda(op, {&src, &dst});
  check_arg(op, "src", src, kAnyFloat);
  check_arg(op, "dst", dst, kAnyFloat);
  check_shape(op, "dst", dst, src.shape(), "src's shape");
  if (src.dtype() == dst.dtype() && src.raw_data() == dst.raw_data()) return;
  const auto* s = static_cast<const char*>(src.raw_data());
  const auto* d = static_cast<const char*>(dst.raw_data());
  ATTNCAMP_CHECK(src.nbytes() == 0 || dst.nbytes() == 0 || s + src.nbytes() <= d || d + dst.nbytes() <= s,
                 "cast: src and dst overlap in memory");
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::cast(src.raw_data(), src.dtype(), dst.raw_data(), dst.dtype(), src.numel(), src.device().index);
#endif
    return;
  }
  cpu::cast(src.raw_data(), src.dtype(), dst.raw_data(), dst.dtype(), src.numel());
}

}  // namespace attncamp::ops
