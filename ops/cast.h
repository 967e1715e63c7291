// Dtype conversion of tensors: dst = src element by element, from any of f32, f64, bf16, f16 to
// any of them, on the CPU and on CUDA with identical results. Narrowing conversions round to
// nearest even (runtime/half.h); f64 to bf16 or f16 rounds to f32 first, as runtime/half.h does.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// dst = src converted to dst's dtype. Same shape, both contiguous, one device; dtypes f32, f64,
// bf16 or f16 (any pair). dst may be src itself (same storage and dtype: nothing happens);
// otherwise their memory must not overlap.
void cast(const Tensor& src, Tensor& dst);

namespace cpu {
// n elements from src (dtype st) to dst (dtype dt), OpenMP-parallel.
void cast(const void* src, DType st, void* dst, DType dt, int64_t n);
}  // namespace cpu

#ifdef ATTNCAMP_WITH_CUDA
namespace cuda {
// The same on the current stream of `device`.
void cast(const void* src, DType st, void* dst, DType dt, int64_t n, int device);
}  // namespace cuda
#endif

}  // namespace attncamp::ops
