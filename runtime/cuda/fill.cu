// Device-side fills for Tensor::zeros / fill / poison on CUDA tensors, queued on the calling
// thread's current stream (ordered before any kernel that later reads the tensor on it).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/cuda/launch.h"
#include "runtime/dtype.h"

namespace attncamp {
namespace {

template <class T>
__global__ void fill_kernel(T* p, int64_t n, T v) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    p[i] = v;
  }
}

template <class T>
void launch_fill(void* p, int64_t n, T v, cudaStream_t s) {
  fill_kernel<T><<<cuda::grid_1d(n, 256), 256, 0, s>>>(static_cast<T*>(p), n, v);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace

void cuda_fill(void* p, DType dtype, int64_t n, double value, int device) {
  if (n == 0) return;
  cudaStream_t s = cuda::launch_stream(device);
  switch (dtype) {
    case DType::kF32: launch_fill<float>(p, n, static_cast<float>(value), s); break;
    case DType::kF64: launch_fill<double>(p, n, value, s); break;
    case DType::kBF16: launch_fill<__nv_bfloat16>(p, n, __float2bfloat16(static_cast<float>(value)), s); break;
    case DType::kF16: launch_fill<__half>(p, n, __float2half(static_cast<float>(value)), s); break;
    case DType::kI32: launch_fill<int32_t>(p, n, static_cast<int32_t>(value), s); break;
    case DType::kI64: launch_fill<int64_t>(p, n, static_cast<int64_t>(value), s); break;
    case DType::kU8: launch_fill<uint8_t>(p, n, static_cast<uint8_t>(value), s); break;
  }
}

void cuda_memset(void* p, int byte, size_t bytes, int device) {
  if (bytes == 0) return;
  cudaStream_t s = cuda::launch_stream(device);
  ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(p, byte, bytes, s));
}

}  // namespace attncamp
