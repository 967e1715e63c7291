// CUDA layer norm: forward (optionally fused with the residual add) and backward. Forward and dx
// kernels give each row to one warp when C <= 1024 (8 rows per 256-thread block) and to one
// 256-thread block otherwise, with 16-byte vector accesses when C and every activation pointer
// allow them; statistics are two-pass in f32. dgamma/dbeta: 32x8-thread blocks each sum 32
// columns over one chunk of rows into a scratch buffer, then one thread per column adds the
// chunks in order (deterministic, no float atomics).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "ops/cuda/act_io.cuh"
#include "ops/layernorm.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int64_t kWarpMaxCols = 1024;  // widest row handled by one warp
constexpr int kColTile = 32;            // dgamma/dbeta: columns per block
constexpr int kRowLanes = 8;            // dgamma/dbeta: threads per column
constexpr int64_t kMinChunkRows = 32;   // dgamma/dbeta: smallest row chunk
constexpr int64_t kMaxChunks = 1024;    // dgamma/dbeta: most row chunks (scratch = chunks * 2C floats)

// kVec consecutive elements moved as one aligned access.
template <class T, int kVec>
struct alignas(sizeof(T) * kVec) Pack {
  T v[kVec];
};

template <class T, int kVec>
__device__ __forceinline__ void load(const T* p, float (&out)[kVec]) {
  const Pack<T, kVec> pk = *reinterpret_cast<const Pack<T, kVec>*>(p);
#pragma unroll
  for (int j = 0; j < kVec; ++j) out[j] = to_f32(pk.v[j]);
}

template <class T, int kVec>
__device__ __forceinline__ void store(T* p, const float (&in)[kVec]) {
  Pack<T, kVec> pk;
#pragma unroll
  for (int j = 0; j < kVec; ++j) pk.v[j] = from_f32<T>(in[j]);
  *reinterpret_cast<Pack<T, kVec>*>(p) = pk;
}

// Butterfly sum over the warp: every lane ends with the same, order-fixed value.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The threads that share a row: one warp (kWarpRows) or the whole block.
template <bool kWarpRows>
__device__ __forceinline__ int row_rank() {
  return kWarpRows ? static_cast<int>(threadIdx.x % kWarp) : static_cast<int>(threadIdx.x);
}
template <bool kWarpRows>
__device__ __forceinline__ int row_threads() {
  return kWarpRows ? kWarp : static_cast<int>(blockDim.x);
}
template <bool kWarpRows>
__device__ __forceinline__ int64_t first_row() {
  return kWarpRows ? static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp
                   : static_cast<int64_t>(blockIdx.x);
}
template <bool kWarpRows>
__device__ __forceinline__ int64_t row_step() {
  return kWarpRows ? static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp) : static_cast<int64_t>(gridDim.x);
}

// Sum of v over the threads of a row, returned to all of them. Block mode: blockDim.x is a
// multiple of 32 and every thread of the block calls it (smem holds kWarp floats).
template <bool kWarpRows>
__device__ __forceinline__ float row_sum(float v, float* smem) {
  v = warp_sum(v);
  if (kWarpRows) return v;
  const int lane = static_cast<int>(threadIdx.x % kWarp), warp = static_cast<int>(threadIdx.x / kWarp);
  __syncthreads();  // the previous call's readers are done with smem
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  return warp_sum(lane < static_cast<int>(blockDim.x / kWarp) ? smem[lane] : 0.0f);
}

template <class T>
struct ForwardParams {
  int64_t rows = 0, cols = 0;
  const T* x = nullptr;
  const T* residual = nullptr;  // nullptr: plain layer norm
  T* sum_out = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  T* y = nullptr;
  float* mean = nullptr;
  float* rstd = nullptr;
  float eps = 0;
};

template <class T, int kVec, bool kWarpRows>
__global__ void __launch_bounds__(kThreads) forward_kernel(const ForwardParams<T> p) {
  __shared__ float smem[kWarp];
  const int rank = row_rank<kWarpRows>(), step = row_threads<kWarpRows>();
  const int64_t nvec = p.cols / kVec;
  const float cols = static_cast<float>(p.cols);
  for (int64_t r = first_row<kWarpRows>(); r < p.rows; r += row_step<kWarpRows>()) {
    const int64_t base = r * p.cols;
    const T* src = p.x + base;
    float a[kVec], b[kVec];
    float sum = 0;
    if (p.residual != nullptr) {
      // Each thread writes the rounded sum and later re-reads only the elements it wrote.
      for (int64_t v = rank; v < nvec; v += step) {
        load<T, kVec>(p.x + base + v * kVec, a);
        load<T, kVec>(p.residual + base + v * kVec, b);
#pragma unroll
        for (int j = 0; j < kVec; ++j) a[j] = to_f32(from_f32<T>(a[j] + b[j]));
        store<T, kVec>(p.sum_out + base + v * kVec, a);
#pragma unroll
        for (int j = 0; j < kVec; ++j) sum += a[j];
      }
      src = p.sum_out + base;
    } else {
      for (int64_t v = rank; v < nvec; v += step) {
        load<T, kVec>(src + v * kVec, a);
#pragma unroll
        for (int j = 0; j < kVec; ++j) sum += a[j];
      }
    }
    const float mean = row_sum<kWarpRows>(sum, smem) / cols;
    float sq = 0;
    for (int64_t v = rank; v < nvec; v += step) {
      load<T, kVec>(src + v * kVec, a);
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        const float d = a[j] - mean;
        sq += d * d;
      }
    }
    const float rstd = 1.0f / sqrtf(row_sum<kWarpRows>(sq, smem) / cols + p.eps);
    if (rank == 0) {
      p.mean[r] = mean;
      p.rstd[r] = rstd;
    }
    for (int64_t v = rank; v < nvec; v += step) {
      load<T, kVec>(src + v * kVec, a);
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        const int64_t c = v * kVec + j;
        a[j] = (a[j] - mean) * rstd * p.gamma[c] + p.beta[c];
      }
      store<T, kVec>(p.y + base + v * kVec, a);
    }
  }
}

template <class T>
struct BackwardParams {
  int64_t rows = 0, cols = 0;
  const T* dy = nullptr;
  const T* x = nullptr;
  const T* dx_add = nullptr;  // may alias dx
  const float* gamma = nullptr;
  const float* mean = nullptr;
  const float* rstd = nullptr;
  T* dx = nullptr;
};

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) (+ dx_add), g = dy * gamma.
template <class T, int kVec, bool kWarpRows>
__global__ void __launch_bounds__(kThreads) dx_kernel(const BackwardParams<T> p) {
  __shared__ float smem[kWarp];
  const int rank = row_rank<kWarpRows>(), step = row_threads<kWarpRows>();
  const int64_t nvec = p.cols / kVec;
  const float cols = static_cast<float>(p.cols);
  for (int64_t r = first_row<kWarpRows>(); r < p.rows; r += row_step<kWarpRows>()) {
    const int64_t base = r * p.cols;
    const float mean = p.mean[r], rstd = p.rstd[r];
    float x[kVec], dy[kVec];
    float sum_g = 0, sum_gx = 0;
    for (int64_t v = rank; v < nvec; v += step) {
      load<T, kVec>(p.x + base + v * kVec, x);
      load<T, kVec>(p.dy + base + v * kVec, dy);
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        const float g = dy[j] * p.gamma[v * kVec + j];
        sum_g += g;
        sum_gx += g * ((x[j] - mean) * rstd);
      }
    }
    const float mg = row_sum<kWarpRows>(sum_g, smem) / cols;
    const float mgx = row_sum<kWarpRows>(sum_gx, smem) / cols;
    for (int64_t v = rank; v < nvec; v += step) {
      load<T, kVec>(p.x + base + v * kVec, x);
      load<T, kVec>(p.dy + base + v * kVec, dy);
      float add[kVec];
      if (p.dx_add != nullptr) {
        load<T, kVec>(p.dx_add + base + v * kVec, add);
      } else {
#pragma unroll
        for (int j = 0; j < kVec; ++j) add[j] = 0.0f;
      }
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        const float xhat = (x[j] - mean) * rstd;
        x[j] = rstd * (dy[j] * p.gamma[v * kVec + j] - mg - xhat * mgx) + add[j];
      }
      store<T, kVec>(p.dx + base + v * kVec, x);
    }
  }
}

// partial[chunk][0, C) = sum over the chunk's rows of dy * xhat, partial[chunk][C, 2C) of dy.
// Block (kColTile, kRowLanes): threadIdx.x picks the column, threadIdx.y every kRowLanes-th row;
// the kRowLanes partials of a column are then added in order.
template <class T>
__global__ void __launch_bounds__(kColTile* kRowLanes)
    param_partial_kernel(const BackwardParams<T> p, int64_t chunk_rows, float* partial) {
  __shared__ float sg[kRowLanes][kColTile + 1];
  __shared__ float sb[kRowLanes][kColTile + 1];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  const int64_t begin = chunk * chunk_rows, end = begin + chunk_rows < p.rows ? begin + chunk_rows : p.rows;
  float g = 0, b = 0;
  if (c < p.cols) {
    for (int64_t r = begin + threadIdx.y; r < end; r += kRowLanes) {
      const float dy = to_f32(p.dy[r * p.cols + c]);
      const float xhat = (to_f32(p.x[r * p.cols + c]) - p.mean[r]) * p.rstd[r];
      g += dy * xhat;
      b += dy;
    }
  }
  sg[threadIdx.y][threadIdx.x] = g;
  sb[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y == 0 && c < p.cols) {
    float tg = 0, tb = 0;
    for (int i = 0; i < kRowLanes; ++i) {
      tg += sg[i][threadIdx.x];
      tb += sb[i][threadIdx.x];
    }
    partial[chunk * 2 * p.cols + c] = tg;
    partial[chunk * 2 * p.cols + p.cols + c] = tb;
  }
}

// dgamma[c] += sum_chunks partial[chunk][c], dbeta[c] += sum_chunks partial[chunk][C + c], chunks in
// order, in double.
__global__ void param_reduce_kernel(const float* partial, int64_t chunks, int64_t cols, float* dgamma, float* dbeta) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < 2 * cols; i += stride) {
    double s = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) s += static_cast<double>(partial[ch * 2 * cols + i]);
    float* out = i < cols ? dgamma + i : dbeta + (i - cols);
    *out = static_cast<float>(static_cast<double>(*out) + s);
  }
}

bool aligned16(const void* p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// One kernel instantiation for the row width: warp rows up to kWarpMaxCols, block rows above.
template <class Params, class WarpKernel, class BlockKernel>
void launch_rows(int64_t rows, int64_t cols, WarpKernel warp_kernel, BlockKernel block_kernel, const Params& p,
                 cudaStream_t s) {
  if (cols <= kWarpMaxCols) {
    warp_kernel<<<::attncamp::cuda::grid_1d(rows, kThreads / kWarp), kThreads, 0, s>>>(p);
  } else {
    block_kernel<<<static_cast<unsigned>(std::min<int64_t>(rows, 65536)), kThreads, 0, s>>>(p);
  }
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

template <class T>
void forward_typed(const LayerNormForwardArgs& a, cudaStream_t s) {
  ForwardParams<T> p;
  p.rows = a.rows;
  p.cols = a.cols;
  p.x = static_cast<const T*>(a.x);
  p.residual = static_cast<const T*>(a.residual);
  p.sum_out = static_cast<T*>(a.sum_out);
  p.gamma = a.gamma;
  p.beta = a.beta;
  p.y = static_cast<T*>(a.y);
  p.mean = a.mean;
  p.rstd = a.rstd;
  p.eps = a.eps;
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  const bool vec =
      a.cols % kVec == 0 && aligned16(a.x) && aligned16(a.residual) && aligned16(a.sum_out) && aligned16(a.y);
  if (vec) {
    launch_rows(a.rows, a.cols, forward_kernel<T, kVec, true>, forward_kernel<T, kVec, false>, p, s);
  } else {
    launch_rows(a.rows, a.cols, forward_kernel<T, 1, true>, forward_kernel<T, 1, false>, p, s);
  }
}

template <class T>
void backward_typed(const LayerNormBackwardArgs& a, cudaStream_t s) {
  BackwardParams<T> p;
  p.rows = a.rows;
  p.cols = a.cols;
  p.dy = static_cast<const T*>(a.dy);
  p.x = static_cast<const T*>(a.x);
  p.dx_add = static_cast<const T*>(a.dx_add);
  p.gamma = a.gamma;
  p.mean = a.mean;
  p.rstd = a.rstd;
  p.dx = static_cast<T*>(a.dx);
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  const bool vec = a.cols % kVec == 0 && aligned16(a.dy) && aligned16(a.x) && aligned16(a.dx_add) && aligned16(a.dx);
  if (vec) {
    launch_rows(a.rows, a.cols, dx_kernel<T, kVec, true>, dx_kernel<T, kVec, false>, p, s);
  } else {
    launch_rows(a.rows, a.cols, dx_kernel<T, 1, true>, dx_kernel<T, 1, false>, p, s);
  }

  // Row chunks depend only on the row count, so the sums are the same on every run and GPU.
  const int64_t want = std::min<int64_t>((a.rows + kMinChunkRows - 1) / kMinChunkRows, kMaxChunks);
  const int64_t chunk_rows = (a.rows + want - 1) / want;
  const int64_t chunks = (a.rows + chunk_rows - 1) / chunk_rows;
  Tensor partial = Tensor::empty({chunks * 2 * a.cols}, DType::kF32, Device::cuda(a.device));
  const dim3 grid(static_cast<unsigned>((a.cols + kColTile - 1) / kColTile), static_cast<unsigned>(chunks));
  param_partial_kernel<T><<<grid, dim3(kColTile, kRowLanes), 0, s>>>(p, chunk_rows, partial.data<float>());
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  param_reduce_kernel<<<::attncamp::cuda::grid_1d(2 * a.cols, kThreads), kThreads, 0, s>>>(
      partial.data<float>(), chunks, a.cols, a.dgamma, a.dbeta);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace

void layernorm_forward(const LayerNormForwardArgs& a) {
  if (a.rows == 0 || a.cols == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  switch (a.act) {
    case DType::kF32: forward_typed<float>(a, s); break;
    case DType::kBF16: forward_typed<__nv_bfloat16>(a, s); break;
    case DType::kF16: forward_typed<__half>(a, s); break;
    default: ATTNCAMP_THROW("layernorm_forward on CUDA: activation dtype ", dtype_name(a.act), " is not supported");
  }
}

void layernorm_backward(const LayerNormBackwardArgs& a) {
  if (a.rows == 0 || a.cols == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  switch (a.act) {
    case DType::kF32: backward_typed<float>(a, s); break;
    case DType::kBF16: backward_typed<__nv_bfloat16>(a, s); break;
    case DType::kF16: backward_typed<__half>(a, s); break;
    default: ATTNCAMP_THROW("layernorm_backward on CUDA: activation dtype ", dtype_name(a.act), " is not supported");
  }
}

}  // namespace attncamp::ops::cuda
