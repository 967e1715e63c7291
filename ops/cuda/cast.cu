// CUDA dtype conversion: a grid-stride loop, one element per thread per step, read as double
// (exact for f32, f64, bf16, f16) and rounded once to the destination, through f32 for the 16-bit
// types: the same roundings as the CPU's ops/cpu/cast.cpp, so results match bit for bit. Equal
// dtypes are a device-to-device copy on the stream.
#include "ops/cast.h"
#include "ops/cuda/act_io.cuh"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ double load_f64(const void* p, DType t, int64_t i) {
  return t == DType::kF64 ? static_cast<const double*>(p)[i] : static_cast<double>(load_act(p, t, i));
}

__device__ __forceinline__ void store_f64(void* p, DType t, int64_t i, double v) {
  if (t == DType::kF64) {
    static_cast<double*>(p)[i] = v;
  } else {
    store_act(p, t, i, __double2float_rn(v));
  }
}

__global__ void cast_kernel(const void* src, DType st, void* dst, DType dt, int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) store_f64(dst, dt, i, load_f64(src, st, i));
}

}  // namespace

void cast(const void* src, DType st, void* dst, DType dt, int64_t n, int device) {
  if (n <= 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  if (st == dt) {
    ATTNCAMP_CUDA_CHECK(
        cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * dtype_size(st), cudaMemcpyDeviceToDevice, s));
    return;
  }
  cast_kernel<<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(src, st, dst, dt, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace attncamp::ops::cuda
