// The CUDA emulator itself (tests/emu), on the PTX primitives the kernels use: ldmatrix and mma,
// wgmma on described operands, cp.async timing, ex2.approx.ftz, the misuses it must reject, and
// small device helpers that run through it (the attention autotuner's agreement check).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "cuda_emu.h"  // before the kernel headers: the CUDA built-ins they use under g++
#include "ops/cuda/attention_agreement.cuh"
#include "ops/cuda/attention_variants.cuh"
#include "tests/test_util.h"

namespace attncamp {
namespace {

namespace attn = ops::cuda::attn;

// The emulator itself: the fragments of ldmatrix (plain and .trans, addressed as the header
// comment of ops/cuda/attention_warp.cuh says) fed to mma give D = C + A B. Small integers keep
// every product and sum exact.
template <typename T>
void check_fragments() {
  constexpr int kS = 24;  // smem row stride in elements (16 + a 16-byte pad)
  alignas(16) T x[16][16], y[16][16];
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) {
      x[i][j] = ops::cuda::from_f32<T>(static_cast<float>((i * 7 + j * 3) % 9 - 4));
      y[i][j] = ops::cuda::from_f32<T>(static_cast<float>((i * 5 + j * 11) % 7 - 3));
    }
  }
  float got_nt[16][16], got_t[16][16];
  emu::launch(dim3(1), dim3(32), 2 * 16 * kS * sizeof(T), [&] {
    T* sx = reinterpret_cast<T*>(attn::dynamic_smem());
    T* sy = sx + 16 * kS;
    const int lane = static_cast<int>(threadIdx.x), g = lane / 4, t = lane % 4;
    attn::cp_async_16(sx + (lane / 2) * kS + (lane % 2) * 8, &x[lane / 2][(lane % 2) * 8], true);
    attn::cp_async_16(sy + (lane / 2) * kS + (lane % 2) * 8, &y[lane / 2][(lane % 2) * 8], true);
    attn::cp_async_commit();
    attn::cp_async_wait_all();
    __syncthreads();
    uint32_t a[4], b[4], bt[4];
    attn::ldmatrix_x4(a, sx + (lane % 16) * kS + (lane / 16) * 8);
    attn::ldmatrix_x4(b, sy + ((lane / 16) * 8 + lane % 8) * kS + ((lane / 8) % 2) * 8);         // B = Y^T
    attn::ldmatrix_x4_trans(bt, sy + (((lane / 8) % 2) * 8 + lane % 8) * kS + (lane / 16) * 8);  // B = Y
    for (int nb = 0; nb < 2; ++nb) {
      float d[4], dt[4];
      for (int e = 0; e < 4; ++e) d[e] = dt[e] = static_cast<float>(g + 8 * (e / 2) - nb * 8 - 2 * t - e % 2);
      attn::mma_16816<T>(d, a, b[2 * nb], b[2 * nb + 1]);
      attn::mma_16816<T>(dt, a, bt[2 * nb], bt[2 * nb + 1]);
      for (int e = 0; e < 4; ++e) {
        got_nt[g + 8 * (e / 2)][8 * nb + 2 * t + e % 2] = d[e];
        got_t[g + 8 * (e / 2)][8 * nb + 2 * t + e % 2] = dt[e];
      }
    }
  });
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) {
      float nt = static_cast<float>(i - j), tr = nt;  // C
      for (int k = 0; k < 16; ++k) {
        nt += ops::cuda::to_f32(x[i][k]) * ops::cuda::to_f32(y[j][k]);
        tr += ops::cuda::to_f32(x[i][k]) * ops::cuda::to_f32(y[k][j]);
      }
      EXPECT_EQ(got_nt[i][j], nt) << i << "," << j;
      EXPECT_EQ(got_t[i][j], tr) << i << "," << j;
    }
  }
}

TEST(EmuRuntime, MmaOfLdmatrixFragmentsIsTheProduct) {
  check_fragments<__nv_bfloat16>();
  check_fragments<__half>();
}

// wgmma (ops/cuda/attention_wgmma.cuh): operands placed by the header's no-swizzle layout formulas
// with other offsets than the kernels use give D = A B (K-major A and B from shared memory), then
// D += A B (A from the warps' m16n8k16 fragments, B N-major), then D = A B (A M-major, B N-major),
// in every lane's accumulator layout.
TEST(EmuRuntime, WgmmaOfDescribedOperandsIsTheProduct) {
  using T = __nv_bfloat16;
  constexpr int kN = 64;
  float x[64][16], y[kN][16];  // A = X (64 x 16); B[k][n] = Y[n][k]
  for (int i = 0; i < 64; ++i) {
    for (int k = 0; k < 16; ++k) x[i][k] = static_cast<float>((i * 7 + k * 3) % 9 - 4);
  }
  for (int n = 0; n < kN; ++n) {
    for (int k = 0; k < 16; ++k) y[n][k] = static_cast<float>((n * 5 + k * 11) % 7 - 3);
  }
  // A K-major with LBO 1024 (k) and SBO 128 (m); B K-major at 2048 with LBO 128, SBO 256; B^T's
  // transpose MN-major at 4096 with LBO 1024 (k), SBO 128 (n).
  auto a_at = [](int m, int k) { return (m / 8) * 128 + (m % 8) * 16 + (k / 8) * 1024 + (k % 8) * 2; };
  auto b_at = [](int n, int k) { return 2048 + (n / 8) * 256 + (n % 8) * 16 + (k / 8) * 128 + (k % 8) * 2; };
  auto bt_at = [](int k, int n) { return 4096 + (n / 8) * 128 + (n % 8) * 2 + (k / 8) * 1024 + (k % 8) * 16; };
  float got_ss[64][kN], got_rs[64][kN], got_tt[64][kN], got_rk[64][kN];
  // A = X M-major at 6144 with LBO 1024 (k) and SBO 128 (m); B N-major is bt_at's.
  auto at_at = [](int m, int k) { return 6144 + (m / 8) * 128 + (m % 8) * 2 + (k / 8) * 1024 + (k % 8) * 16; };
  emu::launch(dim3(1), dim3(128), 8192, [&] {
    unsigned char* sm = attn::dynamic_smem();
    const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    auto put = [&](int offset, float v) { *reinterpret_cast<T*>(sm + offset) = ops::cuda::from_f32<T>(v); };
    for (int k = 0; k < 16; ++k) {
      put(a_at(tid % 64, k), x[tid % 64][k]);
      if (tid < kN) put(b_at(tid, k), y[tid][k]);
      if (tid < kN) put(bt_at(k, tid), y[tid][k]);  // B^T[k][n] = Y[n][k]: the same products
      put(at_at(tid % 64, k), x[tid % 64][k]);
    }
    __syncthreads();
    float d[kN / 8][4];
    attn::wgmma_fence();
    attn::wgmma_ss<T, kN>(d, attn::wgmma_desc(sm, 1024, 128), attn::wgmma_desc(sm + 2048, 128, 256), false);
    attn::wgmma_commit();
    attn::wgmma_wait<0>();
    const int r0 = 16 * warp + g;
    for (int j = 0; j < kN / 8; ++j) {
      for (int e = 0; e < 4; ++e) {
        got_ss[r0 + 8 * (e / 2)][8 * j + 2 * t + e % 2] = d[j][e];
        d[j][e] = static_cast<float>(j - e);  // C of the second product
      }
    }
    uint32_t a[4];
    auto pack = [&](int r, int k) { return attn::pack2<T>(x[r][k], x[r][k + 1]); };
    a[0] = pack(r0, 2 * t);
    a[1] = pack(r0 + 8, 2 * t);
    a[2] = pack(r0, 2 * t + 8);
    a[3] = pack(r0 + 8, 2 * t + 8);
    attn::wgmma_fence();
    attn::wgmma_rs_bt<T, kN>(d, a, attn::wgmma_desc(sm + 4096, 1024, 128), true);
    attn::wgmma_commit();
    attn::wgmma_wait<0>();
    for (int j = 0; j < kN / 8; ++j) {
      for (int e = 0; e < 4; ++e) got_rs[r0 + 8 * (e / 2)][8 * j + 2 * t + e % 2] = d[j][e] - static_cast<float>(j - e);
    }
    attn::wgmma_fence();
    attn::wgmma_ss_tt<T, kN>(d, attn::wgmma_desc(sm + 6144, 1024, 128), attn::wgmma_desc(sm + 4096, 1024, 128), false);
    attn::wgmma_commit();
    attn::wgmma_wait<0>();
    for (int j = 0; j < kN / 8; ++j) {
      for (int e = 0; e < 4; ++e) got_tt[r0 + 8 * (e / 2)][8 * j + 2 * t + e % 2] = d[j][e];
    }
    // A from registers with B K-major (trans-b 0): b_at's layout.
    attn::wgmma_fence();
    attn::wgmma_rs<T, kN>(d, a, attn::wgmma_desc(sm + 2048, 128, 256), false);
    attn::wgmma_commit();
    attn::wgmma_wait<0>();
    for (int j = 0; j < kN / 8; ++j) {
      for (int e = 0; e < 4; ++e) got_rk[r0 + 8 * (e / 2)][8 * j + 2 * t + e % 2] = d[j][e];
    }
  });
  for (int i = 0; i < 64; ++i) {
    for (int n = 0; n < kN; ++n) {
      float want = 0;
      for (int k = 0; k < 16; ++k) want += x[i][k] * y[n][k];
      EXPECT_EQ(got_ss[i][n], want) << i << "," << n;
      EXPECT_EQ(got_rs[i][n], want) << i << "," << n;
      EXPECT_EQ(got_tt[i][n], want) << i << "," << n;
      EXPECT_EQ(got_rk[i][n], want) << i << "," << n;
    }
  }
}

TEST(EmuRuntime, CpAsyncLandsAtTheWaitAfterItsCommit) {
  alignas(16) uint8_t src[32];
  for (int i = 0; i < 32; ++i) src[i] = static_cast<uint8_t>(i + 1);
  int seen[5] = {};
  emu::launch(dim3(1), dim3(32), 64, [&] {
    if (threadIdx.x != 0) return;
    unsigned char* s = attn::dynamic_smem();
    attn::cp_async_16(s, src, true);
    seen[0] = s[0];  // not landed: 0xff
    attn::cp_async_commit();
    attn::cp_async_16(s + 16, src + 16, true);  // after the last commit: not waited for
    attn::cp_async_16(s + 32, src, false);      // zero fill
    attn::cp_async_wait_all();
    seen[1] = s[0];
    seen[2] = s[16];
    attn::cp_async_commit();
    attn::cp_async_wait_all();
    seen[3] = s[16];
    seen[4] = s[32];
  });
  EXPECT_EQ(seen[0], 0xff);
  EXPECT_EQ(seen[1], 1);
  EXPECT_EQ(seen[2], 0xff);
  EXPECT_EQ(seen[3], 17);
  EXPECT_EQ(seen[4], 0);
}

TEST(EmuRuntime, FastExp2FlushesLikeEx2ApproxFtz) {
  EXPECT_EQ(attn::fast_exp2(3.0f), 8.0f);
  EXPECT_EQ(attn::fast_exp2(-126.0f), 0x1p-126f);
  EXPECT_EQ(attn::fast_exp2(-126.5f), 0.0f);
  EXPECT_EQ(attn::fast_exp2(-INFINITY), 0.0f);
  EXPECT_TRUE(std::isnan(attn::fast_exp2(NAN)));
}

// What the hardware rejects (or leaves undefined) fails loudly, naming the problem.
TEST(EmuRuntime, RejectsWhatTheHardwareRejects) {
  alignas(16) uint8_t src[32] = {};
  const dim3 one(1), warp(32);
  test::expect_error(
      [&] { emu::launch(one, warp, 64, [&] { attn::cp_async_16(attn::dynamic_smem() + 8, src, true); }); },
      {"cp.async", "16-byte aligned"});
  test::expect_error(
      [&] { emu::launch(one, warp, 64, [&] { attn::cp_async_16(attn::dynamic_smem(), src + 4, true); }); },
      {"cp.async", "16-byte aligned"});
  test::expect_error(
      [&] { emu::launch(one, warp, 64, [&] { attn::cp_async_4(attn::dynamic_smem() + 64, src, true); }); },
      {"cp.async", "outside"});
  auto ldmatrix_at = [&](size_t offset) {  // one warp's ldmatrix at shared-memory byte `offset`
    emu::launch(one, warp, 64, [&] {
      uint32_t r[4];
      attn::ldmatrix_x4(r, attn::dynamic_smem() + offset);
    });
  };
  test::expect_error([&] { ldmatrix_at(64); }, {"ldmatrix", "outside"});
  test::expect_error([&] { ldmatrix_at(8); }, {"ldmatrix", "16-byte aligned"});
  test::expect_error([&] { emu::launch(one, warp, 64, [&] { attn::cp_async_16(attn::dynamic_smem(), src, true); }); },
                     {"never waited"});
  test::expect_error(
      [&] {
        emu::launch(one, dim3(64), 0, [&] {
          if (threadIdx.x < 32) __syncthreads();
        });
      },
      {"deadlock", "__syncthreads"});
  test::expect_error(
      [&] {
        emu::launch(one, warp, 64, [&] {
          uint32_t r[4];
          if (threadIdx.x < 16) {
            attn::shfl_xor(1.0f, 1);
          } else {
            attn::ldmatrix_x4(r, attn::dynamic_smem());
          }
        });
      },
      {"divergent warp"});
  test::expect_error([&] { emu::launch(one, warp, 0, [] { __shfl_xor_sync(0xffffu, 1.0f, 1); }); },
                     {"__shfl_xor_sync", "full-warp"});
  test::expect_error([&] { emu::launch(one, dim3(48), 0, [] {}); }, {"multiple of 32"});
  // wgmma: a fence before the first, whole warpgroups, committed before the wait, waited for.
  auto wgmma_run = [&](dim3 block, bool fence, bool commit, bool wait) {
    emu::launch(one, block, 4096, [&] {
      float d[8][4] = {};
      if (fence) attn::wgmma_fence();
      attn::wgmma_ss<__nv_bfloat16, 64>(d, attn::wgmma_desc(attn::dynamic_smem(), 128, 256),
                                        attn::wgmma_desc(attn::dynamic_smem(), 128, 256), false);
      if (commit) attn::wgmma_commit();
      if (wait) attn::wgmma_wait<0>();
    });
  };
  test::expect_error([&] { wgmma_run(dim3(128), false, true, true); }, {"wgmma", "wgmma_fence"});
  test::expect_error([&] { wgmma_run(dim3(64), true, true, true); }, {"wgmma", "warpgroups"});
  test::expect_error([&] { wgmma_run(dim3(128), true, false, true); }, {"wgmma_wait", "wgmma_commit"});
  test::expect_error([&] { wgmma_run(dim3(128), true, true, false); }, {"wgmma never waited for"});
  // One wgmma of operands at sm and sm + 2048, with `between` run between its commit and its wait.
  auto product = [](unsigned char* sm, const std::function<void()>& between) {
    float d[8][4] = {};
    attn::wgmma_fence();
    attn::wgmma_ss<__nv_bfloat16, 64>(d, attn::wgmma_desc(sm, 128, 256), attn::wgmma_desc(sm + 2048, 128, 256), false);
    attn::wgmma_commit();
    between();
    attn::wgmma_wait<0>();
  };
  // Shared memory a wgmma reads, written while it is in flight (the hardware may read it any time
  // before the wait); the same kernel writing after the wait runs.
  auto write_in_flight = [&](bool before_wait) {
    emu::launch(one, dim3(128), 4096, [&] {
      unsigned char* sm = attn::dynamic_smem();
      for (int i = static_cast<int>(threadIdx.x); i < 4096; i += 128) sm[i] = 0;
      __syncthreads();
      auto write = [&] {
        if (threadIdx.x == 5) sm[2048 + 16] = 0x3f;  // B element (1, 0)
      };
      product(
          sm, before_wait ? std::function<void()>(write) : [] {});
      if (!before_wait) write();
    });
  };
  test::expect_error([&] { write_in_flight(true); }, {"wgmma 0", "changed between its issue", "in flight"});
  write_in_flight(false);
  // cp.async data reaches wgmma (the async proxy) only after the copying thread's
  // fence_proxy_async (then a barrier).
  alignas(16) static const unsigned char zeros[4096] = {};
  auto copied_operands = [&](bool fence) {
    emu::LaunchOptions opt;
    opt.global = {{zeros, sizeof(zeros)}};
    emu::launch(
        one, dim3(128), 4096,
        [&] {
          unsigned char* sm = attn::dynamic_smem();
          for (int i = static_cast<int>(threadIdx.x); i < 256; i += 128) attn::cp_async_16(sm + 16 * i, zeros, true);
          attn::cp_async_commit();
          attn::cp_async_wait_all();
          if (fence) attn::fence_proxy_async();
          __syncthreads();
          product(sm, [] {});
        },
        opt);
  };
  test::expect_error([&] { copied_operands(false); }, {"wgmma reads shared-memory byte", "no fence_proxy_async"});
  copied_operands(true);
  test::expect_error(
      [&] {
        emu::launch(one, dim3(128), 1024, [&] {
          float d[8][4] = {};
          attn::wgmma_fence();
          attn::wgmma_ss<__nv_bfloat16, 64>(d, attn::wgmma_desc(attn::dynamic_smem(), 128, 256),
                                            attn::wgmma_desc(attn::dynamic_smem(), 128, 256), false);
          attn::wgmma_commit();
          attn::wgmma_wait<0>();
        });
      },
      {"wgmma", "outside"});
  test::expect_error([&] { emu::launch(one, warp, emu::kMaxSharedBytes + 1, [] {}); }, {"shared memory"});
}

// The autotuner's agreement check (ops/cuda/attention_agreement.cuh) on a padded strided view:
// the stored reference holds exactly the view's elements, and the comparison reports the largest
// reference magnitude and difference (padding ignored; NaN and infinities as documented).
TEST(EmuAttention, AutotuneAgreementMeasuresTheLargestDifference) {
  // [2, 3, 4, 5] with every stride padded: 120 elements in 164 slots, over a 2 x 32-thread grid.
  const attn::AgreementView shape{nullptr, DType::kBF16, {2, 3, 4, 5}, {82, 26, 6}};
  std::vector<__nv_bfloat16> got(164, ops::cuda::from_f32<__nv_bfloat16>(1e30f));  // padding
  auto at = [](int64_t i0, int64_t i1, int64_t i2, int64_t i3) { return i0 * 82 + i1 * 26 + i2 * 6 + i3; };
  std::vector<float> want;
  for (int64_t i0 = 0; i0 < 2; ++i0) {
    for (int64_t i1 = 0; i1 < 3; ++i1) {
      for (int64_t i2 = 0; i2 < 4; ++i2) {
        for (int64_t i3 = 0; i3 < 5; ++i3) {
          want.push_back(static_cast<float>((i0 * 31 + i1 * 7 + i2 * 3 + i3) % 19) - 9.0f);  // |v| <= 9
          got[at(i0, i1, i2, i3)] = ops::cuda::from_f32<__nv_bfloat16>(want.back());
        }
      }
    }
  }
  std::vector<__nv_bfloat16> ref(120, ops::cuda::from_f32<__nv_bfloat16>(-1.0f));
  auto run = [&](bool store) {
    unsigned stats[2] = {0, 0};
    emu::launch(dim3(2), dim3(32), 0,
                [&] { attn::agreement_kernel<__nv_bfloat16>(got.data(), shape, ref.data(), store, stats); });
    float out[2];
    std::memcpy(out, stats, sizeof(out));
    return std::vector<float>{out[0], out[1]};
  };
  run(true);
  for (size_t i = 0; i < 120; ++i) ASSERT_EQ(ops::cuda::to_f32(ref[i]), want[i]) << i;
  EXPECT_EQ(run(false), (std::vector<float>{9.0f, 0.0f}));
  got[at(1, 2, 3, 4)] = ops::cuda::from_f32<__nv_bfloat16>(want[119] + 0.5f);
  got[at(0, 1, 0, 2)] = ops::cuda::from_f32<__nv_bfloat16>(want[22] - 2.0f);
  EXPECT_EQ(run(false), (std::vector<float>{9.0f, 2.0f}));
  got[at(0, 0, 0, 0)] = ops::cuda::from_f32<__nv_bfloat16>(NAN);  // a NaN the reference lacks
  EXPECT_EQ(run(false)[1], INFINITY);
  got[at(0, 0, 0, 0)] = ops::cuda::from_f32<__nv_bfloat16>(want[0]);
  ref[7] = ops::cuda::from_f32<__nv_bfloat16>(NAN);  // NaN in both: agreement; INFINITY in one only: not
  got[at(0, 0, 1, 2)] = ops::cuda::from_f32<__nv_bfloat16>(-NAN);
  EXPECT_EQ(run(false), (std::vector<float>{9.0f, 2.0f}));
  ref[8] = ops::cuda::from_f32<__nv_bfloat16>(INFINITY);
  got[at(0, 0, 1, 3)] = ops::cuda::from_f32<__nv_bfloat16>(INFINITY);
  EXPECT_EQ(run(false), (std::vector<float>{9.0f, 2.0f}));
  got[at(0, 0, 1, 3)] = ops::cuda::from_f32<__nv_bfloat16>(-INFINITY);
  EXPECT_EQ(run(false)[1], INFINITY);
}

}  // namespace
}  // namespace attncamp
