// CUDA bias add, bias fill and column sums. The broadcasts are grid-stride loops over the
// [rows, cols] output (column = index % cols). The column sum is deterministic: a block owns 32
// consecutive columns (one per lane, so loads are coalesced); its 16 row lanes each sum every
// 16th row in order (in double), then a fixed tree over the row lanes adds the partials.
#include "ops/bias_add.h"
#include "ops/cuda/act_io.cuh"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kSumCols = 32;      // columns per block (blockDim.x)
constexpr int kSumRowLanes = 16;  // row lanes per block (blockDim.y); a power of two

__global__ void bias_add_kernel(void* y, DType yt, const float* b, int64_t n, int64_t cols) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) store_act(y, yt, i, load_act(y, yt, i) + b[i % cols]);
}

__global__ void bias_fill_kernel(void* y, DType yt, const float* b, int64_t n, int64_t cols) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) store_act(y, yt, i, b[i % cols]);
}

__global__ void column_sum_kernel(const void* x, DType xt, int64_t rows, int64_t cols, float* out) {
  __shared__ double partial[kSumRowLanes][kSumCols + 1];
  const int lane = threadIdx.x, row_lane = threadIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kSumCols + lane;
  double acc = 0.0;
  if (c < cols) {
    for (int64_t r = row_lane; r < rows; r += kSumRowLanes) acc += static_cast<double>(load_act(x, xt, r * cols + c));
  }
  partial[row_lane][lane] = acc;
  __syncthreads();
  for (int half = kSumRowLanes / 2; half > 0; half /= 2) {
    if (row_lane < half) partial[row_lane][lane] += partial[row_lane + half][lane];
    __syncthreads();
  }
  if (row_lane == 0 && c < cols) out[c] = static_cast<float>(static_cast<double>(out[c]) + partial[0][lane]);
}

}  // namespace

void bias_add_forward(void* y, DType yt, const float* b, int64_t rows, int64_t cols, int device) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  bias_add_kernel<<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(y, yt, b, n, cols);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void bias_fill(void* y, DType yt, const float* b, int64_t rows, int64_t cols, int device) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  bias_fill_kernel<<<attncamp::cuda::grid_1d(n, kThreads), kThreads, 0, s>>>(y, yt, b, n, cols);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void column_sum_accumulate(const void* x, DType xt, int64_t rows, int64_t cols, float* out, int device) {
  if (rows == 0 || cols == 0) return;
  cudaStream_t s = attncamp::cuda::launch_stream(device);
  const dim3 block(kSumCols, kSumRowLanes);
  const auto blocks = static_cast<unsigned>((cols + kSumCols - 1) / kSumCols);
  column_sum_kernel<<<blocks, block, 0, s>>>(x, xt, rows, cols, out);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace attncamp::ops::cuda
