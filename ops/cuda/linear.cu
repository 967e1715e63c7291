// CUDA linear layers: the GEMMs go through cuBLASLt (ops/cuda/gemm.cu) with the bias in the
// forward GEMM's epilogue; the small kernels here round the f32 bias to the activation dtype,
// apply the exact GELU and its gradient element-wise (grid-stride, one element per thread), and
// sum dy's columns into db deterministically (per-chunk partial sums, then a fixed-order total).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "ops/cuda/lt_matmul.h"
#include "ops/linear.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
// Column sums: a block covers kSumCols columns x kSumRowsPerChunk rows with kSumCols x kSumRowThreads
// threads; each thread adds every kSumRowThreads-th row of its column within the chunk.
constexpr int kSumCols = 32;
constexpr int kSumRowThreads = 8;
constexpr int64_t kSumRowsPerChunk = 512;

template <class T>
__global__ void round_bias_kernel(const float* b, T* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = from_f32<T>(b[i]);
  }
}

// y = x * Phi(x) = x/2 * (1 + erf(x / sqrt(2))).
template <class T>
__global__ void gelu_kernel(const T* pre, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = to_f32(pre[i]);
    y[i] = from_f32<T>(0.5f * v * (1.0f + erff(v * kInvSqrt2)));
  }
}

// dpre = dy * (Phi(x) + x * phi(x)), x = pre.
template <class T>
__global__ void gelu_grad_kernel(const T* pre, const T* dy, T* dpre, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = to_f32(pre[i]);
    const float cdf = 0.5f * (1.0f + erff(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
    dpre[i] = from_f32<T>(to_f32(dy[i]) * (cdf + v * pdf));
  }
}

// partial[chunk * cols + c] = sum of dy[r, c] over the rows r of `chunk`, in a fixed order:
// blockIdx.x picks kSumCols columns, blockIdx.y (grid-stride) the chunk; thread (tx, ty) sums rows
// ty, ty + kSumRowThreads, ... of column tx, then thread ty == 0 adds the kSumRowThreads sums in order.
template <class T>
__global__ void column_partial_kernel(const T* dy, int64_t rows, int64_t cols, int64_t chunks, float* partial) {
  __shared__ float sums[kSumRowThreads][kSumCols];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = blockIdx.x * static_cast<int64_t>(kSumCols) + tx;
  for (int64_t chunk = blockIdx.y; chunk < chunks; chunk += gridDim.y) {
    const int64_t r_end = (chunk + 1) * kSumRowsPerChunk < rows ? (chunk + 1) * kSumRowsPerChunk : rows;
    float acc = 0.0f;
    if (c < cols) {
      for (int64_t r = chunk * kSumRowsPerChunk + ty; r < r_end; r += kSumRowThreads) acc += to_f32(dy[r * cols + c]);
    }
    sums[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && c < cols) {
      float s = 0.0f;
      for (int t = 0; t < kSumRowThreads; ++t) s += sums[t][tx];
      partial[chunk * cols + c] = s;
    }
    __syncthreads();  // sums is rewritten by the next chunk
  }
}

// db[c] += sum over chunks of partial[chunk * cols + c], in chunk order (in f64).
__global__ void column_total_kernel(const float* partial, int64_t chunks, int64_t cols, float* db) {
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < cols;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double s = db[c];
    for (int64_t k = 0; k < chunks; ++k) s += partial[k * cols + c];
    db[c] = static_cast<float>(s);
  }
}

template <class T>
void round_bias(const float* b, void* out, int64_t n, cudaStream_t s) {
  round_bias_kernel<T><<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(b, static_cast<T*>(out), n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

template <class T>
void gelu(const void* pre, void* y, int64_t n, cudaStream_t s) {
  gelu_kernel<T>
      <<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(static_cast<const T*>(pre), static_cast<T*>(y), n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

template <class T>
void gelu_grad(const void* pre, const void* dy, void* dpre, int64_t n, cudaStream_t s) {
  gelu_grad_kernel<T><<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(
      static_cast<const T*>(pre), static_cast<const T*>(dy), static_cast<T*>(dpre), n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

template <class T>
void column_partials(const void* dy, int64_t rows, int64_t cols, int64_t chunks, float* partial, cudaStream_t s) {
  const dim3 block(kSumCols, kSumRowThreads);
  const dim3 grid(static_cast<unsigned>((cols + kSumCols - 1) / kSumCols),
                  static_cast<unsigned>(std::min<int64_t>(chunks, 65535)));
  column_partial_kernel<T><<<grid, block, 0, s>>>(static_cast<const T*>(dy), rows, cols, chunks, partial);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

// Calls f(T*{nullptr}) with T the CUDA element type of `dtype` (a generic lambda recovers T).
template <class F>
void by_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kF32: f(static_cast<float*>(nullptr)); break;
    case DType::kBF16: f(static_cast<__nv_bfloat16*>(nullptr)); break;
    case DType::kF16: f(static_cast<__half*>(nullptr)); break;
    default:
      ATTNCAMP_THROW("linear on CUDA: dtype ", dtype_name(dtype), " is not an activation dtype (f32, bf16, f16)");
  }
}

// Row-major GEMM parameters over contiguous matrices (leading dimension = column count, at least 1).
GemmCudaParams gemm_params(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, const void* a, const void* b,
                           void* c, DType ab, DType cd, float beta) {
  GemmCudaParams g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.a = a;
  g.lda = std::max<int64_t>(1, trans_a ? m : k);
  g.b = b;
  g.ldb = std::max<int64_t>(1, trans_b ? k : n);
  g.c = c;
  g.ldc = std::max<int64_t>(1, n);
  g.ab_dtype = ab;
  g.c_dtype = cd;
  g.beta = beta;
  return g;
}

}  // namespace

void linear_forward(const LinearCudaParams& p, const float* b, void* y, int device) {
  // y [rows, out] = x [rows, in] @ (w [out, in])^T
  const GemmCudaParams g = gemm_params(p.rows, p.out, p.in, false, true, p.x, p.w, y, p.dtype, p.dtype, 0.0f);
  if (b == nullptr || p.dtype == DType::kF32) {
    gemm_bias(g, b, device);
    return;
  }
  // cuBLASLt's bias has the output's type: round the f32 bias into a scratch vector first.
  Tensor bias = Tensor::empty({p.out}, p.dtype, Device::cuda(device));
  if (p.out > 0) {
    cudaStream_t s = attncamp::cuda::launch_stream(device);
    by_dtype(p.dtype, [&](auto* t) { round_bias<std::remove_pointer_t<decltype(t)>>(b, bias.raw_data(), p.out, s); });
  }
  gemm_bias(g, bias.raw_data(), device);
}

void linear_backward(const LinearCudaParams& p, const void* dy, void* dx, float* dw, float* db, int device) {
  if (dx != nullptr) {
    // dx [rows, in] = dy [rows, out] @ w [out, in]
    gemm(gemm_params(p.rows, p.in, p.out, false, false, dy, p.w, dx, p.dtype, p.dtype, 0.0f), device);
  }
  // dw [out, in] += (dy [rows, out])^T @ x [rows, in], accumulated in f32
  gemm(gemm_params(p.out, p.in, p.rows, true, false, dy, p.x, dw, p.dtype, DType::kF32, 1.0f), device);
  if (db == nullptr || p.rows == 0 || p.out == 0) return;
  const int64_t chunks = (p.rows + kSumRowsPerChunk - 1) / kSumRowsPerChunk;
  Tensor partial = Tensor::empty({chunks, p.out}, DType::kF32, Device::cuda(device));
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  by_dtype(p.dtype, [&](auto* t) {
    column_partials<std::remove_pointer_t<decltype(t)>>(dy, p.rows, p.out, chunks, partial.data<float>(), s);
  });
  column_total_kernel<<<attncamp::cuda::grid_1d(p.out, kThreads), kThreads, 0, s>>>(partial.data<float>(), chunks,
                                                                                    p.out, db);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void linear_gelu_forward(const LinearCudaParams& p, const float* b, void* pre, void* y, int device) {
  linear_forward(p, b, pre, device);
  const int64_t n = p.rows * p.out;
  if (n == 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  by_dtype(p.dtype, [&](auto* t) { gelu<std::remove_pointer_t<decltype(t)>>(pre, y, n, s); });
}

void linear_gelu_backward(const LinearCudaParams& p, const void* dy, const void* pre, void* dx, float* dw, float* db,
                          int device) {
  const int64_t n = p.rows * p.out;
  Tensor dpre = Tensor::empty({n}, p.dtype, Device::cuda(device));
  if (n > 0) {
    cudaStream_t s = attncamp::cuda::launch_stream(device);
    by_dtype(p.dtype, [&](auto* t) { gelu_grad<std::remove_pointer_t<decltype(t)>>(pre, dy, dpre.raw_data(), n, s); });
  }
  linear_backward(p, dpre.raw_data(), dx, dw, db, device);
}

}  // namespace attncamp::ops::cuda
