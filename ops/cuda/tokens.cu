// CUDA token plumbing for the ViT. Every kernel is a grid-stride loop over the elements of its
// output, decomposing the flat index into (batch, token, feature) to find its source; patchify
// normalises each channel with its own scale and shift. The
// gradients of the class token and position embeddings (sums over the batch) use one thread per
// feature that adds the batch entries in order, in f32 like the CPU: deterministic, no atomics.
#include "ops/cuda/act_io.cuh"
#include "ops/tokens.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void patchify_kernel(PatchifyArgs p, int64_t n) {
  const int64_t gh = p.height / p.patch, gw = p.width / p.patch;
  const int64_t row_len = p.patch * p.channels;  // one patch row: (px, c)
  const int64_t channels = p.channels;
  for (int64_t o = grid_index(); o < n; o += grid_stride()) {
    int64_t t = o / row_len;
    const int64_t j = o - t * row_len;
    const int64_t py = t % p.patch;
    t /= p.patch;
    const int64_t gx = t % gw;
    t /= gw;
    const int64_t gy = t % gh;
    const int64_t b = t / gh;
    const int64_t src = ((b * p.height + gy * p.patch + py) * p.width + gx * p.patch) * p.channels + j;
    const float v = p.image_dtype == DType::kU8 ? static_cast<float>(static_cast<const uint8_t*>(p.images)[src])
                                                : static_cast<const float*>(p.images)[src];
    const int64_t c = j % channels;
    store_act(p.out, p.out_dtype, o, v * p.scale[c] - p.shift[c]);
  }
}

__global__ void prepend_forward_kernel(const void* x, DType xt, const float* tok, void* y, DType yt, int64_t s,
                                       int64_t d, int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) {
    const int64_t t = i / d, f = i - t * d;
    const int64_t token = t % (s + 1), b = t / (s + 1);
    store_act(y, yt, i, token == 0 ? tok[f] : load_act(x, xt, (b * s + token - 1) * d + f));
  }
}

__global__ void prepend_backward_kernel(const void* dy, DType dyt, void* dx, DType dxt, int64_t s, int64_t d,
                                        int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) {
    const int64_t t = i / d, f = i - t * d;
    const int64_t token = t % s, b = t / s;
    store_act(dx, dxt, i, load_act(dy, dyt, (b * (s + 1) + token + 1) * d + f));
  }
}

// out[j] += sum_b x[b * stride + j] for j < len, adding b = 0, 1, ... in order.
__global__ void batch_sum_kernel(const void* x, DType xt, int64_t batch, int64_t stride, int64_t len, float* out) {
  for (int64_t j = grid_index(); j < len; j += grid_stride()) {
    float acc = out[j];
    for (int64_t b = 0; b < batch; ++b) acc += load_act(x, xt, b * stride + j);
    out[j] = acc;
  }
}

__global__ void position_forward_kernel(void* x, DType xt, const float* pos, int64_t sd, int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) store_act(x, xt, i, load_act(x, xt, i) + pos[i % sd]);
}

__global__ void select_forward_kernel(const void* x, DType xt, void* y, DType yt, int64_t s, int64_t d, int64_t index,
                                      int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) {
    const int64_t b = i / d, f = i - b * d;
    store_act(y, yt, i, load_act(x, xt, (b * s + index) * d + f));
  }
}

__global__ void select_backward_kernel(const void* dy, DType dyt, void* dx, DType dxt, int64_t s, int64_t d,
                                       int64_t index, int64_t n) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) {
    const int64_t t = i / d, f = i - t * d;
    const int64_t token = t % s, b = t / s;
    store_act(dx, dxt, i, token == index ? load_act(dy, dyt, b * d + f) : 0.0f);
  }
}

unsigned blocks_for(int64_t n) { return attncamp::cuda::grid_1d(n, kThreads); }

}  // namespace

void patchify(const PatchifyArgs& p, int device) {
  const int64_t n = p.batch * p.height * p.width * p.channels;  // as many outputs as pixels
  if (n == 0) return;
  cudaStream_t st = attncamp::cuda::launch_stream(device);
  patchify_kernel<<<blocks_for(n), kThreads, 0, st>>>(p, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void prepend_token_forward(const void* x, DType xt, const float* tok, void* y, DType yt, int64_t b, int64_t s,
                           int64_t d, int device) {
  const int64_t n = b * (s + 1) * d;
  if (n == 0) return;
  cudaStream_t st = attncamp::cuda::launch_stream(device);
  prepend_forward_kernel<<<blocks_for(n), kThreads, 0, st>>>(x, xt, tok, y, yt, s, d, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void prepend_token_backward(const void* dy, DType dyt, void* dx, DType dxt, float* dtok, int64_t b, int64_t s,
                            int64_t d, int device) {
  if (d == 0) return;
  cudaStream_t st = attncamp::cuda::launch_stream(device);
  const int64_t n = b * s * d;
  if (n > 0) {
    prepend_backward_kernel<<<blocks_for(n), kThreads, 0, st>>>(dy, dyt, dx, dxt, s, d, n);
    ATTNCAMP_CUDA_LAUNCH_CHECK();
  }
  batch_sum_kernel<<<blocks_for(d), kThreads, 0, st>>>(dy, dyt, b, (s + 1) * d, d, dtok);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void add_position_forward(void* x, DType xt, const float* pos, int64_t b, int64_t sd, int device) {
  const int64_t n = b * sd;
  if (n == 0) return;
  cudaStream_t st = attncamp::cuda::launch_stream(device);
  position_forward_kernel<<<blocks_for(n), kThreads, 0, st>>>(x, xt, pos, sd, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void add_position_backward(const void* dy, DType dyt, float* dpos, int64_t b, int64_t sd, int device) {
  if (sd == 0) return;
  cudaStream_t st = attncamp::cuda::launch_stream(device);
  batch_sum_kernel<<<blocks_for(sd), kThreads, 0, st>>>(dy, dyt, b, sd, sd, dpos);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void select_token_forward(const void* x, DType xt, void* y, DType yt, int64_t b, int64_t s, int64_t d, int64_t index,
                          int device) {
  const int64_t n = b * d;
  if (n == 0) return;
  cudaStream_t st = attncamp::cuda::launch_stream(device);
  select_forward_kernel<<<blocks_for(n), kThreads, 0, st>>>(x, xt, y, yt, s, d, index, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void select_token_backward(const void* dy, DType dyt, void* dx, DType dxt, int64_t b, int64_t s, int64_t d,
                           int64_t index, int device) {
  const int64_t n = b * s * d;
  if (n == 0) return;
  cudaStream_t st = attncamp::cuda::launch_stream(device);
  select_backward_kernel<<<blocks_for(n), kThreads, 0, st>>>(dy, dyt, dx, dxt, s, d, index, n);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

}  // namespace attncamp::ops::cuda
