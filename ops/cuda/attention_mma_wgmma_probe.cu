// ops::attention_wgmma_probe: one wgmma of each operand form the wgmma attention kernels use
// (ops/cuda/attention_wgmma.cuh), on small integer operands laid out by that header's formulas with
// other strides than the kernels use, against the exact products. A first GPU run of the kernels
// that fails parity can tell from it which operand form (and so which descriptor) is wrong. Each
// form also runs with the LBO and SBO of one or both of its descriptors swapped: if the header's
// reading of the two strides were the wrong way round for an operand, that alternative would be
// the exact one. The same products (the header's reading) run through the CPU emulator in
// EmuRuntime.WgmmaOfDescribedOperandsIsTheProduct. Compiled for sm_90a with the other
// attention_mma_*.cu (ops/CMakeLists.txt).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "ops/attention_lab.h"
#include "ops/cuda/attention_mma_launchers.cuh"
#include "runtime/cuda/check.h"

namespace attncamp::ops::cuda::attn {
namespace {

constexpr int kN = 64, kForms = 4, kAlternatives = 4;  // alternative bit 0: A's strides swapped, bit 1: B's
constexpr int kSmemBytes = 32768;  // each operand 8 KiB apart: swapped strides read at most 7424 bytes

__host__ __device__ inline float probe_x(int m, int k) { return static_cast<float>((m * 7 + k * 3) % 9 - 4); }
__host__ __device__ inline float probe_y(int n, int k) { return static_cast<float>((n * 5 + k * 11) % 7 - 3); }

// Byte offsets: A = X K-major (LBO 1024, SBO 128); B[k][n] = Y[n][k] K-major at 8192 (LBO 128, SBO
// 256) and N-major at 16384 (LBO 1024, SBO 128); A = X M-major at 24576 (LBO 1024, SBO 128).
__device__ inline int a_at(int m, int k) { return (m / 8) * 128 + (m % 8) * 16 + (k / 8) * 1024 + (k % 8) * 2; }
__device__ inline int b_at(int n, int k) { return 8192 + (n / 8) * 256 + (n % 8) * 16 + (k / 8) * 128 + (k % 8) * 2; }
__device__ inline int bt_at(int k, int n) {
  return 16384 + (n / 8) * 128 + (n % 8) * 2 + (k / 8) * 1024 + (k % 8) * 16;
}
__device__ inline int at_at(int m, int k) {
  return 24576 + (m / 8) * 128 + (m % 8) * 2 + (k / 8) * 1024 + (k % 8) * 16;
}

// The descriptor at byte `offset` with strides (lbo, sbo), or swapped.
__device__ inline uint64_t probe_desc(unsigned char* sm, int offset, uint32_t lbo, uint32_t sbo, bool swap) {
  return swap ? wgmma_desc(sm + offset, sbo, lbo) : wgmma_desc(sm + offset, lbo, sbo);
}

// One warpgroup, kSmemBytes of shared memory (zero but for the operands); out[form][m][n] for the
// four forms: A and B K-major, A from registers with B N-major, A M-major with B N-major, A from
// registers with B K-major. Each is X Y^T (64 x 64) when the descriptors are read as the header
// says and `alternative` is 0.
template <typename T>
__global__ void __launch_bounds__(128) wgmma_probe_kernel(float* out, int alternative) {
  unsigned char* sm = dynamic_smem();
  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const bool swap_a = (alternative & 1) != 0, swap_b = (alternative & 2) != 0;
  for (int i = tid; i < kSmemBytes / 16; i += 128) reinterpret_cast<uint4*>(sm)[i] = make_uint4(0, 0, 0, 0);
  __syncthreads();
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
  wgmma_ss<T, kN>(d, probe_desc(sm, 0, 1024, 128, swap_a), probe_desc(sm, 8192, 128, 256, swap_b), false);
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
  wgmma_rs_bt<T, kN>(d, a, probe_desc(sm, 16384, 1024, 128, swap_a), false);  // B swapped by bit 0 here
  wgmma_commit();
  wgmma_wait<0>();
  wgmma_fence_operand(d);
  store(1, d);
  wgmma_fence();
  wgmma_ss_tt<T, kN>(d, probe_desc(sm, 24576, 1024, 128, swap_a), probe_desc(sm, 16384, 1024, 128, swap_b), false);
  wgmma_commit();
  wgmma_wait<0>();
  wgmma_fence_operand(d);
  store(2, d);
  wgmma_fence();
  wgmma_rs<T, kN>(d, a, probe_desc(sm, 8192, 128, 256, swap_a), false);  // B swapped by bit 0 here
  wgmma_commit();
  wgmma_wait<0>();
  wgmma_fence_operand(d);
  store(3, d);
}

template <typename T>
void probe(const char* type, std::vector<std::pair<std::string, double>>& errors) {
  constexpr size_t kElems = size_t{kAlternatives} * kForms * 64 * kN;
  float* dev = nullptr;
  ATTNCAMP_CUDA_CHECK(cudaMalloc(&dev, kElems * sizeof(float)));
  std::vector<float> got(kElems);
  try {
    for (int alt = 0; alt < kAlternatives; ++alt) {
      wgmma_probe_kernel<T><<<1, 128, kSmemBytes>>>(dev + size_t{static_cast<unsigned>(alt)} * kForms * 64 * kN, alt);
      ATTNCAMP_CUDA_LAUNCH_CHECK();
    }
    ATTNCAMP_CUDA_CHECK(cudaMemcpy(got.data(), dev, kElems * sizeof(float), cudaMemcpyDeviceToHost));
  } catch (...) {
    cudaFree(dev);
    throw;
  }
  ATTNCAMP_CUDA_CHECK(cudaFree(dev));
  const char* forms[kForms] = {"A, B K-major (S = Q K^T, S^T, dP^T)", "A registers, B N-major (P V, dV, dK)",
                               "A M-major, B N-major (dQ = dS K)",
                               "A registers, B K-major (S^T, dP^T with K and V in registers)"};
  for (int alt = 0; alt < kAlternatives; ++alt) {
    for (int f = 0; f < kForms; ++f) {
      const bool one_descriptor = f == 1 || f == 3;
      if (one_descriptor && alt > 1) continue;  // swapped or not
      double err = 0;
      for (int m = 0; m < 64; ++m) {
        for (int n = 0; n < kN; ++n) {
          double want = 0;
          for (int k = 0; k < 16; ++k) want += static_cast<double>(probe_x(m, k)) * probe_y(n, k);
          err = std::fmax(err, std::fabs(got[((static_cast<size_t>(alt) * kForms + f) * 64 + m) * kN + n] - want));
        }
      }
      std::string name = std::string(type) + " " + forms[f];
      if (one_descriptor && alt == 1) {
        name += " [alternative: B's LBO and SBO swapped]";
      } else if (alt > 0) {
        name += std::string(" [alternative: ") +
                (alt == 1   ? "A's"
                 : alt == 2 ? "B's"
                            : "A's and B's") +
                " LBO and SBO swapped]";
      }
      errors.emplace_back(name, err);
    }
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
