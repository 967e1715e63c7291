// ops::attention_wgmma_probe: one wgmma of each operand form the wgmma attention kernels use
// (ops/cuda/attention_wgmma.cuh), on small integer operands laid out by that header's formulas with
// other strides than the kernels use, against the exact products. A first GPU run of the kernels
// that fails parity can tell from it which operand form (and so which descriptor) is wrong. The
// same products run through the CPU emulator in EmuRuntime.WgmmaOfDescribedOperandsIsTheProduct.
// Compiled for sm_90a with the other attention_mma_*.cu (ops/CMakeLists.txt).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "ops/attention.h"
#include "ops/cuda/attention_mma_launchers.cuh"
#include "runtime/cuda/check.h"

namespace attncamp::ops::cuda::attn {
namespace {

constexpr int kN = 64, kForms = 3;

__host__ __device__ inline float probe_x(int m, int k) { return static_cast<float>((m * 7 + k * 3) % 9 - 4); }
__host__ __device__ inline float probe_y(int n, int k) { return static_cast<float>((n * 5 + k * 11) % 7 - 3); }

// Byte offsets: A = X K-major (LBO 1024, SBO 128); B[k][n] = Y[n][k] K-major at 2048 (LBO 128, SBO
// 256) and N-major at 4096 (LBO 1024, SBO 128); A = X M-major at 6144 (LBO 1024, SBO 128).
__device__ inline int a_at(int m, int k) { return (m / 8) * 128 + (m % 8) * 16 + (k / 8) * 1024 + (k % 8) * 2; }
__device__ inline int b_at(int n, int k) { return 2048 + (n / 8) * 256 + (n % 8) * 16 + (k / 8) * 128 + (k % 8) * 2; }
__device__ inline int bt_at(int k, int n) { return 4096 + (n / 8) * 128 + (n % 8) * 2 + (k / 8) * 1024 + (k % 8) * 16; }
__device__ inline int at_at(int m, int k) { return 6144 + (m / 8) * 128 + (m % 8) * 2 + (k / 8) * 1024 + (k % 8) * 16; }

// One warpgroup, 8192 bytes of shared memory; out[form][m][n] for the three forms: A and B K-major,
// A from registers with B N-major, A M-major with B N-major. Each is X Y^T (64 x 64).
template <typename T>
__global__ void __launch_bounds__(128) wgmma_probe_kernel(float* out) {
  unsigned char* sm = dynamic_smem();
  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  auto put = [&](int offset, float v) { *reinterpret_cast<T*>(sm + offset) = from_f32<T>(v); };
  for (int k = 0; k < 16; ++k) {
    put(a_at(tid % 64, k), probe_x(tid % 64, k));
    put(at_at(tid % 64, k), probe_x(tid % 64, k));
    if (tid < kN) {
      put(b_at(tid, k), probe_y(tid, k));
      put(bt_at(k, tid), probe_y(tid, k));
    }
  }
  fence_proxy_async();
  __syncthreads();
  const int r0 = 16 * warp + g;
  auto store = [&](int form, const float(&d)[kN / 8][4]) {
    for (int j = 0; j < kN / 8; ++j) {
      for (int e = 0; e < 4; ++e) out[(form * 64 + r0 + 8 * (e / 2)) * kN + 8 * j + 2 * t + e % 2] = d[j][e];
    }
  };
  float d[kN / 8][4];
  wgmma_fence();
  wgmma_ss<T, kN>(d, wgmma_desc(sm, 1024, 128), wgmma_desc(sm + 2048, 128, 256), false);
  wgmma_commit();
  wgmma_wait<0>();
  wgmma_fence_operand(d);
  store(0, d);
  uint32_t a[4];
  a[0] = pack2<T>(probe_x(r0, 2 * t), probe_x(r0, 2 * t + 1));
  a[1] = pack2<T>(probe_x(r0 + 8, 2 * t), probe_x(r0 + 8, 2 * t + 1));
  a[2] = pack2<T>(probe_x(r0, 2 * t + 8), probe_x(r0, 2 * t + 9));
  a[3] = pack2<T>(probe_x(r0 + 8, 2 * t + 8), probe_x(r0 + 8, 2 * t + 9));
  wgmma_fence();
  wgmma_rs_bt<T, kN>(d, a, wgmma_desc(sm + 4096, 1024, 128), false);
  wgmma_commit();
  wgmma_wait<0>();
  wgmma_fence_operand(d);
  store(1, d);
  wgmma_fence();
  wgmma_ss_tt<T, kN>(d, wgmma_desc(sm + 6144, 1024, 128), wgmma_desc(sm + 4096, 1024, 128), false);
  wgmma_commit();
  wgmma_wait<0>();
  wgmma_fence_operand(d);
  store(2, d);
}

template <typename T>
void probe(const char* type, std::vector<std::pair<std::string, double>>& errors) {
  constexpr size_t kElems = size_t{kForms} * 64 * kN;
  float* dev = nullptr;
  ATTNCAMP_CUDA_CHECK(cudaMalloc(&dev, kElems * sizeof(float)));
  std::vector<float> got(kElems);
  try {
    wgmma_probe_kernel<T><<<1, 128, 8192>>>(dev);
    ATTNCAMP_CUDA_LAUNCH_CHECK();
    ATTNCAMP_CUDA_CHECK(cudaMemcpy(got.data(), dev, kElems * sizeof(float), cudaMemcpyDeviceToHost));
  } catch (...) {
    cudaFree(dev);
    throw;
  }
  ATTNCAMP_CUDA_CHECK(cudaFree(dev));
  const char* forms[kForms] = {"A, B K-major (S = Q K^T, S^T, dP^T)", "A registers, B N-major (P V, dV, dK)",
                               "A M-major, B N-major (dQ = dS K)"};
  for (int f = 0; f < kForms; ++f) {
    double err = 0;
    for (int m = 0; m < 64; ++m) {
      for (int n = 0; n < kN; ++n) {
        double want = 0;
        for (int k = 0; k < 16; ++k) want += static_cast<double>(probe_x(m, k)) * probe_y(n, k);
        err = std::fmax(err, std::fabs(got[(static_cast<size_t>(f) * 64 + m) * kN + n] - want));
      }
    }
    errors.emplace_back(std::string(type) + " " + forms[f], err);
  }
}

}  // namespace
}  // namespace attncamp::ops::cuda::attn

namespace attncamp::ops {

std::vector<std::pair<std::string, double>> attention_wgmma_probe() {
  cuda::attn::require_wgmma_device("attention_wgmma_probe");
  std::vector<std::pair<std::string, double>> errors;
  cuda::attn::probe<__nv_bfloat16>("bf16", errors);
  cuda::attn::probe<__half>("f16", errors);
  return errors;
}

}  // namespace attncamp::ops
