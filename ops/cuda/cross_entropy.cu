// CUDA fused softmax cross-entropy. Each row goes to one warp when C <= 1024 (8 rows per
// 256-thread block) and to one 256-thread block otherwise. One pass over the row keeps a running
// max and sum of exp (online softmax) plus the sum of the logits; a second pass writes the
// gradient directly (probabilities are never stored). All arithmetic is f32; each row's loss goes
// to losses[row], so a later fixed-order sum of them is deterministic. Bad labels are recorded on
// the device (lowest row) and reported after the kernel.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>

#include "ops/cross_entropy.h"
#include "ops/cuda/act_io.cuh"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int64_t kWarpMaxCols = 1024;  // widest row handled by one warp

// Adds x to a running (max m, sum s of exp(x_i - m)). m starts at -inf and s at 0; -inf logits
// add nothing, NaN makes s NaN.
__device__ __forceinline__ void online_add(float& m, float& s, float x) {
  if (x > m) {
    s = s * expf(m - x) + 1.0f;
    m = x;
  } else if (x != -INFINITY) {
    s += expf(x - m);
  }
}

// Merges (m2, s2) into (m, s). Symmetric in its two operands (bitwise), so butterfly partners agree.
__device__ __forceinline__ void online_merge(float& m, float& s, float m2, float s2) {
  const float mx = fmaxf(m, m2);
  if (mx == -INFINITY) {  // both empty: s and s2 are 0 (or NaN, which must survive)
    s = s + s2;
    return;
  }
  s = s * expf(m - mx) + s2 * expf(m2 - mx);
  m = mx;
}

__device__ __forceinline__ void warp_merge(float& m, float& s) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    online_merge(m, s, m2, s2);
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Row-wide (max, sum-exp) and plain sum, returned to every thread of the row: a warp
// (kWarpRows) or the whole block (blockDim.x a multiple of 32, smem_* of kWarp floats each).
template <bool kWarpRows>
__device__ __forceinline__ void row_reduce(float& m, float& s, float& total, float* smem_m, float* smem_s,
                                           float* smem_t) {
  warp_merge(m, s);
  total = warp_sum(total);
  if (kWarpRows) return;
  const int lane = static_cast<int>(threadIdx.x % kWarp), warp = static_cast<int>(threadIdx.x / kWarp);
  __syncthreads();  // the previous row's readers are done with smem
  if (lane == 0) {
    smem_m[warp] = m;
    smem_s[warp] = s;
    smem_t[warp] = total;
  }
  __syncthreads();
  const bool live = lane < static_cast<int>(blockDim.x / kWarp);
  m = live ? smem_m[lane] : -INFINITY;
  s = live ? smem_s[lane] : 0.0f;
  total = warp_sum(live ? smem_t[lane] : 0.0f);
  warp_merge(m, s);
}

template <class T>
struct Params {
  int64_t rows = 0, cols = 0;
  const T* logits = nullptr;
  const int32_t* labels = nullptr;
  float* losses = nullptr;
  T* dlogits = nullptr;  // nullptr: loss only
  float keep = 1;        // 1 - label_smoothing
  float off = 0;         // target mass of every class: label_smoothing / C
  float on = 1;          // target mass of the label: 1 - label_smoothing + off
  float grad_scale = 1;
  unsigned long long* bad_row = nullptr;  // lowest row with a label outside [-1, C)
};

template <class T, bool kWarpRows>
__global__ void __launch_bounds__(kThreads) cross_entropy_kernel(const Params<T> p) {
  __shared__ float smem_m[kWarp], smem_s[kWarp], smem_t[kWarp];
  const int rank = kWarpRows ? static_cast<int>(threadIdx.x % kWarp) : static_cast<int>(threadIdx.x);
  const int step = kWarpRows ? kWarp : static_cast<int>(blockDim.x);
  const int64_t first = kWarpRows ? static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp
                                  : static_cast<int64_t>(blockIdx.x);
  const int64_t stride =
      kWarpRows ? static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp) : static_cast<int64_t>(gridDim.x);
  for (int64_t r = first; r < p.rows; r += stride) {
    const T* x = p.logits + r * p.cols;
    T* g = p.dlogits != nullptr ? p.dlogits + r * p.cols : nullptr;
    const int32_t label = p.labels[r];
    if (label < 0 || label >= p.cols) {  // the same for every thread of the row
      const bool ignored = label == -1;
      if (rank == 0) {
        if (!ignored) atomicMin(p.bad_row, static_cast<unsigned long long>(r));
        p.losses[r] = ignored ? 0.0f : NAN;
      }
      if (g != nullptr) {
        for (int64_t c = rank; c < p.cols; c += step) g[c] = from_f32<T>(ignored ? 0.0f : NAN);
      }
      continue;
    }
    float m = -INFINITY, s = 0, total = 0;
    for (int64_t c = rank; c < p.cols; c += step) {
      const float v = to_f32(x[c]);
      online_add(m, s, v);
      total += v;
    }
    row_reduce<kWarpRows>(m, s, total, smem_m, smem_s, smem_t);
    const float lse = m + logf(s);
    // -sum_c q_c (x_c - lse) = lse - (1 - eps) x_label - eps/C sum_c x_c
    if (rank == 0) p.losses[r] = lse - p.keep * to_f32(x[label]) - p.off * total;
    if (g != nullptr) {
      for (int64_t c = rank; c < p.cols; c += step) {
        const float prob = expf(to_f32(x[c]) - lse);
        g[c] = from_f32<T>(p.grad_scale * (prob - (c == label ? p.on : p.off)));
      }
    }
  }
}

template <class T>
void launch(const CrossEntropyArgs& a, unsigned long long* bad_row, cudaStream_t s) {
  Params<T> p;
  p.rows = a.rows;
  p.cols = a.cols;
  p.logits = static_cast<const T*>(a.logits);
  p.labels = a.labels;
  p.losses = a.losses;
  p.dlogits = static_cast<T*>(a.dlogits);
  const double off = a.label_smoothing / static_cast<double>(a.cols);
  p.keep = static_cast<float>(1.0 - a.label_smoothing);
  p.off = static_cast<float>(off);
  p.on = static_cast<float>(1.0 - a.label_smoothing + off);
  p.grad_scale = static_cast<float>(a.grad_scale);
  p.bad_row = bad_row;
  if (a.cols <= kWarpMaxCols) {
    cross_entropy_kernel<T, true><<<::attncamp::cuda::grid_1d(a.rows, kThreads / kWarp), kThreads, 0, s>>>(p);
  } else {
    cross_entropy_kernel<T, false><<<static_cast<unsigned>(std::min<int64_t>(a.rows, 65536)), kThreads, 0, s>>>(p);
  }
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace

void cross_entropy_forward_backward(const CrossEntropyArgs& a) {
  if (a.rows == 0) return;
  cudaStream_t s = ::attncamp::cuda::launch_stream(a.device);
  Tensor bad = Tensor::empty({1}, DType::kI64, Device::cuda(a.device));
  auto* bad_row = static_cast<unsigned long long*>(bad.raw_data());
  ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(bad_row, 0xff, sizeof(unsigned long long), s));  // ULLONG_MAX: none
  switch (a.act) {
    case DType::kF32: launch<float>(a, bad_row, s); break;
    case DType::kBF16: launch<__nv_bfloat16>(a, bad_row, s); break;
    case DType::kF16: launch<__half>(a, bad_row, s); break;
    default:
      ATTNCAMP_THROW("cross_entropy_forward_backward on CUDA: logits dtype ", dtype_name(a.act), " is not supported");
  }
  unsigned long long first_bad = 0;
  ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(&first_bad, bad_row, sizeof(first_bad), cudaMemcpyDeviceToHost, s));
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(s));
  if (first_bad == ULLONG_MAX) return;
  int32_t label = 0;
  ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(&label, a.labels + first_bad, sizeof(label), cudaMemcpyDeviceToHost, s));
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(s));
  ATTNCAMP_THROW("label ", label, " at index ", first_bad, " is outside [0, ", a.cols, ") (-1 marks an ignored row)");
}

}  // namespace attncamp::ops::cuda
