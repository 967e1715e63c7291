// CUDA reductions. sum: a grid fixed by the size (at most 1024 blocks of 256 threads) accumulates
// grid-stride elements in double per thread, reduces each block in a fixed tree, and the host adds
// the block partials in order, so the result is the same on every run and every GPU. argmax, topk
// and count_topk_correct give each row to one warp (8 rows per block) and rank entries with the
// CPU's order (larger first, lower index on ties, NaN last); topk makes k passes over the row.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/reduce.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int64_t kMaxSumBlocks = 1024;

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// partial[blockIdx.x] = sum (of squares) of the elements this block visits, in double.
template <class T, bool kSquares>
__global__ void __launch_bounds__(kThreads) sum_kernel(const T* x, int64_t n, double* partial) {
  __shared__ double smem[kWarp];
  double acc = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double v = static_cast<double>(to_f32(x[i]));
    acc += kSquares ? v * v : v;
  }
  acc = warp_sum(acc);
  const int lane = static_cast<int>(threadIdx.x % kWarp), warp = static_cast<int>(threadIdx.x / kWarp);
  if (lane == 0) smem[warp] = acc;
  __syncthreads();
  if (warp == 0) {
    acc = warp_sum(lane < static_cast<int>(blockDim.x / kWarp) ? smem[lane] : 0.0);
    if (lane == 0) partial[blockIdx.x] = acc;
  }
}

// True when entry (va, a) ranks before (vb, b): larger first, lower index on ties, NaN last.
__device__ __forceinline__ bool ranks_before(float va, int32_t a, float vb, int32_t b) {
  const bool na = isnan(va), nb = isnan(vb);
  if (na || nb) return nb && (!na || a < b);
  return va > vb || (va == vb && a < b);
}

// Leaves every lane with the best (v, i) of the warp; i < 0 marks "no candidate". The order is
// strict and total, so butterfly partners pick the same entry.
__device__ __forceinline__ void warp_best(float& v, int32_t& i) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int32_t oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (oi >= 0 && (i < 0 || ranks_before(ov, oi, v, i))) {
      v = ov;
      i = oi;
    }
  }
}

// Rows handled by the calling warp: first, first + step, ...
__device__ __forceinline__ int64_t warp_row() {
  return static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
}
__device__ __forceinline__ int64_t warp_row_step() { return static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp); }

template <class T>
__global__ void __launch_bounds__(kThreads) argmax_kernel(const T* x, int64_t rows, int64_t cols, int32_t* idx) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  for (int64_t r = warp_row(); r < rows; r += warp_row_step()) {
    const T* row = x + r * cols;
    float bv = 0;
    int32_t bi = -1;
    for (int32_t c = lane; c < cols; c += kWarp) {
      const float v = to_f32(row[c]);
      if (bi < 0 || ranks_before(v, c, bv, bi)) {
        bv = v;
        bi = c;
      }
    }
    warp_best(bv, bi);
    if (lane == 0) idx[r] = bi;
  }
}

// Pass j picks the best entry ranked after pass j-1's pick.
template <class T>
__global__ void __launch_bounds__(kThreads)
    topk_kernel(const T* x, int64_t rows, int64_t cols, int k, T* values, int32_t* idx) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  for (int64_t r = warp_row(); r < rows; r += warp_row_step()) {
    const T* row = x + r * cols;
    float pv = 0;
    int32_t pi = -1;  // previous pick; -1 before the first
    for (int j = 0; j < k; ++j) {
      float bv = 0;
      int32_t bi = -1;
      for (int32_t c = lane; c < cols; c += kWarp) {
        const float v = to_f32(row[c]);
        if ((pi < 0 || ranks_before(pv, pi, v, c)) && (bi < 0 || ranks_before(v, c, bv, bi))) {
          bv = v;
          bi = c;
        }
      }
      warp_best(bv, bi);
      if (lane == 0) {
        values[r * k + j] = row[bi];
        idx[r * k + j] = bi;
      }
      pv = bv;
      pi = bi;
    }
  }
}

// counts[0] += rows whose label has fewer than k entries ranked before it; counts[1] = lowest row
// with a label outside [-1, cols) (left at ULLONG_MAX when there is none). Integer atomics: exact.
template <class T>
__global__ void __launch_bounds__(kThreads)
    count_topk_kernel(const T* x, int64_t rows, int64_t cols, const int32_t* labels, int k,
                      unsigned long long* counts) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  for (int64_t r = warp_row(); r < rows; r += warp_row_step()) {
    const int32_t label = labels[r];
    if (label == -1) continue;
    if (label < -1 || label >= cols) {
      if (lane == 0) atomicMin(&counts[1], static_cast<unsigned long long>(r));
      continue;
    }
    const T* row = x + r * cols;
    const float lv = to_f32(row[label]);
    long long before = 0;
    for (int32_t c = lane; c < cols; c += kWarp) before += ranks_before(to_f32(row[c]), c, lv, label) ? 1 : 0;
    before = warp_sum(before);
    if (lane == 0 && before < k) atomicAdd(&counts[0], 1ULL);
  }
}

unsigned warp_rows_grid(int64_t rows) { return ::attncamp::cuda::grid_1d(rows, kThreads / kWarp); }

template <class T>
double sum_typed(const void* x, int64_t n, bool squares, int device) {
  cudaStream_t s = ::attncamp::cuda::launch_stream(device);
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxSumBlocks);
  Tensor partial = Tensor::empty({blocks}, DType::kF64, Device::cuda(device));
  const T* p = static_cast<const T*>(x);
  if (squares) {
    sum_kernel<T, true><<<static_cast<unsigned>(blocks), kThreads, 0, s>>>(p, n, partial.data<double>());
  } else {
    sum_kernel<T, false><<<static_cast<unsigned>(blocks), kThreads, 0, s>>>(p, n, partial.data<double>());
  }
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  std::vector<double> host(static_cast<size_t>(blocks));
  ATTNCAMP_CUDA_CHECK(
      cudaMemcpyAsync(host.data(), partial.data<double>(), host.size() * sizeof(double), cudaMemcpyDeviceToHost, s));
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(s));
  double total = 0;
  for (double v : host) total += v;
  return total;
}

template <class T>
void argmax_typed(const void* x, int64_t rows, int64_t cols, int32_t* idx, int device) {
  cudaStream_t s = ::attncamp::cuda::launch_stream(device);
  argmax_kernel<T><<<warp_rows_grid(rows), kThreads, 0, s>>>(static_cast<const T*>(x), rows, cols, idx);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

template <class T>
void topk_typed(const void* x, int64_t rows, int64_t cols, int k, void* values, int32_t* idx, int device) {
  cudaStream_t s = ::attncamp::cuda::launch_stream(device);
  topk_kernel<T>
      <<<warp_rows_grid(rows), kThreads, 0, s>>>(static_cast<const T*>(x), rows, cols, k, static_cast<T*>(values), idx);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

template <class T>
int64_t count_topk_typed(const void* logits, int64_t rows, int64_t cols, const int32_t* labels, int k, int device) {
  cudaStream_t s = ::attncamp::cuda::launch_stream(device);
  Tensor counts_dev = Tensor::empty({2}, DType::kI64, Device::cuda(device));
  auto* counts = static_cast<unsigned long long*>(counts_dev.raw_data());
  ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(counts, 0, sizeof(unsigned long long), s));
  ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(counts + 1, 0xff, sizeof(unsigned long long), s));  // ULLONG_MAX
  count_topk_kernel<T>
      <<<warp_rows_grid(rows), kThreads, 0, s>>>(static_cast<const T*>(logits), rows, cols, labels, k, counts);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  unsigned long long host[2] = {0, 0};
  ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(host, counts, sizeof(host), cudaMemcpyDeviceToHost, s));
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(s));
  if (host[1] != ULLONG_MAX) {
    int32_t label = 0;
    ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(&label, labels + host[1], sizeof(label), cudaMemcpyDeviceToHost, s));
    ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(s));
    ATTNCAMP_THROW("label ", label, " at index ", host[1], " is outside [0, ", cols, ") (-1 marks an ignored row)");
  }
  return static_cast<int64_t>(host[0]);
}

[[noreturn]] void unsupported(const char* op, DType dtype) {
  ATTNCAMP_THROW(op, " on CUDA: dtype ", dtype_name(dtype), " is not supported (expected f32, bf16 or f16)");
}

}  // namespace

double sum(const void* x, DType dtype, int64_t n, bool squares, int device) {
  if (n == 0) return 0.0;
  switch (dtype) {
    case DType::kF32: return sum_typed<float>(x, n, squares, device);
    case DType::kBF16: return sum_typed<__nv_bfloat16>(x, n, squares, device);
    case DType::kF16: return sum_typed<__half>(x, n, squares, device);
    default: unsupported("sum", dtype);
  }
}

void argmax(const void* x, DType dtype, int64_t rows, int64_t cols, int32_t* idx, int device) {
  if (rows == 0) return;
  switch (dtype) {
    case DType::kF32: argmax_typed<float>(x, rows, cols, idx, device); break;
    case DType::kBF16: argmax_typed<__nv_bfloat16>(x, rows, cols, idx, device); break;
    case DType::kF16: argmax_typed<__half>(x, rows, cols, idx, device); break;
    default: unsupported("argmax", dtype);
  }
}

void topk(const void* x, DType dtype, int64_t rows, int64_t cols, int k, void* values, int32_t* idx, int device) {
  if (rows == 0) return;
  switch (dtype) {
    case DType::kF32: topk_typed<float>(x, rows, cols, k, values, idx, device); break;
    case DType::kBF16: topk_typed<__nv_bfloat16>(x, rows, cols, k, values, idx, device); break;
    case DType::kF16: topk_typed<__half>(x, rows, cols, k, values, idx, device); break;
    default: unsupported("topk", dtype);
  }
}

int64_t count_topk_correct(const void* logits, DType dtype, int64_t rows, int64_t cols, const int32_t* labels, int k,
                           int device) {
  if (rows == 0) return 0;
  switch (dtype) {
    case DType::kF32: return count_topk_typed<float>(logits, rows, cols, labels, k, device);
    case DType::kBF16: return count_topk_typed<__nv_bfloat16>(logits, rows, cols, labels, k, device);
    case DType::kF16: return count_topk_typed<__half>(logits, rows, cols, labels, k, device);
    default: unsupported("count_topk_correct", dtype);
  }
}

}  // namespace attncamp::ops::cuda
