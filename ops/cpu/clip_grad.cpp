// CPU gradient clipping and the tensor-level API (CUDA buffers: ops::cuda::sum of squares, then
// ops/cuda/clip_grad.cu's scale): sum of squares in double over fixed-size chunks (chunk partials
// added in order, so the norm does not depend on the thread count), then an in-place scale.
#include "ops/clip_grad.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/dispatch.h"
#include "ops/reduce.h"

namespace attncamp::ops::cpu {
namespace {

constexpr int64_t kChunk = 4096;
constexpr int kLanes = 8;

template <typename T>
double sum_squares(const T* x, int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(static)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t begin = ch * kChunk, end = std::min(n, begin + kChunk);
    double lane[kLanes] = {};
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
#pragma omp simd
      for (int w = 0; w < kLanes; ++w) {
        const double v = static_cast<double>(x[i + w]);
        lane[w] += v * v;
      }
    }
    for (; i < end; ++i) lane[0] += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    double s = 0;
    for (int w = 0; w < kLanes; ++w) s += lane[w];
    part[ch] = s;
  }
  double total = 0;
  for (double s : part) total += s;
  return total;
}

template <typename T>
void scale_kernel(T* x, int64_t n, T factor) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

// Checks the gradient buffer `flat`; returns true when it lives on CUDA (then it must be f32).
bool check_flat(const Tensor& flat, const char* op) {
  const bool cuda = on_cuda(op, {&flat});
  check_arg(op, "flat (the gradients)", flat, cuda ? DTypeSet{DType::kF32} : kCpuFloat);
  return cuda;
}

}  // namespace
}  // namespace attncamp::ops::cpu

namespace attncamp::ops {

double global_norm(const Tensor& flat) {
  if (cpu::check_flat(flat, "global_norm")) {
#ifdef ATTNCAMP_WITH_CUDA
    return std::sqrt(cuda::sum(flat.raw_data(), flat.dtype(), flat.numel(), true, flat.device().index));
#endif
  }
  return std::sqrt(dispatch_float(flat.dtype(), "global_norm", [&](auto tag) {
    using T = decltype(tag);
    return cpu::sum_squares(flat.data<T>(), flat.numel());
  }));
}

double clip_grad_norm_(Tensor& flat, double max_norm) {
  const bool cuda = cpu::check_flat(flat, "clip_grad_norm_");
  ATTNCAMP_CHECK(max_norm > 0, "clip_grad_norm_: max_norm must be > 0, got ", max_norm);
  const double norm = global_norm(flat);
  if (!std::isfinite(norm) || norm <= max_norm) return norm;
  const double factor = max_norm / (norm + 1e-6);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::scale_f32(flat.data<float>(), flat.numel(), static_cast<float>(factor), flat.device().index);
#endif
  } else {
    dispatch_float(flat.dtype(), "clip_grad_norm_", [&](auto tag) {
      using T = decltype(tag);
      cpu::scale_kernel(flat.data<T>(), flat.numel(), static_cast<T>(factor));
    });
  }
  return norm;
}

}  // namespace attncamp::ops
