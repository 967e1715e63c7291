// Native f32 GEMM (see sgemm_native.h). Loop nest, BLIS order: N in kNc blocks, K in kKc blocks
// (B packed once per block by all threads), then C tiles of mc rows x some 16-wide panels spread
// statically over threads; each thread packs its A rows and runs the 6x16 micro-kernel over them.
// Edge tiles run the same kernel on a 6x16 scratch copy of C, so all elements see equal arithmetic.
#include "ops/cpu/sgemm_native.h"

#include <omp.h>

#include <algorithm>
#include <memory>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ATTNCAMP_SGEMM_NATIVE 1
#endif

#include "runtime/error.h"

namespace attncamp::ops::cpu {

#ifdef ATTNCAMP_SGEMM_NATIVE
namespace {

constexpr int64_t kMr = 6;     // micro-tile rows (broadcast A values)
constexpr int64_t kNr = 16;    // micro-tile columns (two ymm registers)
constexpr int64_t kKc = 512;   // K block: a 6 x kKc A panel (12 KiB) plus a kKc x 16 B panel (32 KiB)
constexpr int64_t kMc = 72;    // default rows per tile: a 72 x kKc packed A block (144 KiB) in L2
constexpr int64_t kNc = 4096;  // N block: bounds the shared packed-B buffer (8 MiB)
// Below this many flops one thread runs the whole product (fork/join would dominate).
constexpr double kParallelFlops = 4.0e5;

// C[6x16] = alpha * sum_p pa[p] (x) pb[p] + beta * C, accumulating p = 0..kc-1 in order.
// beta == 0 writes C without reading it.
void kernel_6x16(int64_t kc, const float* pa, const float* pb, float alpha, float beta, float* c, int64_t ldc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps();
  __m256 c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps();
  __m256 c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_loadu_ps(pb);
    const __m256 b1 = _mm256_loadu_ps(pb + 8);
    __m256 a = _mm256_broadcast_ss(pa + 0);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(pa + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(pa + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(pa + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(pa + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40);
    c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(pa + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50);
    c51 = _mm256_fmadd_ps(a, b1, c51);
    pa += kMr;
    pb += kNr;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  const __m256 acc[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (beta == 0.0f) {
    for (int64_t i = 0; i < kMr; ++i) {
      _mm256_storeu_ps(c + i * ldc, _mm256_mul_ps(va, acc[i][0]));
      _mm256_storeu_ps(c + i * ldc + 8, _mm256_mul_ps(va, acc[i][1]));
    }
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
    for (int64_t i = 0; i < kMr; ++i) {
      float* row = c + i * ldc;
      _mm256_storeu_ps(row, _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), _mm256_mul_ps(va, acc[i][0])));
      _mm256_storeu_ps(row + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8), _mm256_mul_ps(va, acc[i][1])));
    }
  }
}

// Partial micro-tile (mr <= 6 rows, nr <= 16 columns): the same kernel on a scratch copy of C.
void kernel_edge(int64_t mr, int64_t nr, int64_t kc, const float* pa, const float* pb, float alpha, float beta,
                 float* c, int64_t ldc) {
  alignas(32) float tmp[kMr * kNr] = {};
  if (beta != 0.0f) {
    for (int64_t i = 0; i < mr; ++i) std::copy(c + i * ldc, c + i * ldc + nr, tmp + i * kNr);
  }
  kernel_6x16(kc, pa, pb, alpha, beta, tmp, kNr);
  for (int64_t i = 0; i < mr; ++i) std::copy(tmp + i * kNr, tmp + i * kNr + nr, c + i * ldc);
}

// One micro-tile: the full kernel, or the scratch-copy edge path for partial tiles.
void micro_tile(int64_t mr, int64_t nr, int64_t kc, const float* pa, const float* pb, float alpha, float beta, float* c,
                int64_t ldc) {
  if (mr == kMr && nr == kNr) {
    kernel_6x16(kc, pa, pb, alpha, beta, c, ldc);
  } else {
    kernel_edge(mr, nr, kc, pa, pb, alpha, beta, c, ldc);
  }
}

// Packs op(A)[i0 : i0+mc, p0 : p0+kc] into ceil(mc/6) panels of kc x 6 (zero-padded rows).
void pack_a(bool trans, const float* a, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* out) {
  for (int64_t ir = 0; ir < mc; ir += kMr) {
    const int64_t mr = std::min(kMr, mc - ir);
    if (trans) {
      // Each k row holds the panel's mr values contiguously: a masked 8-wide load (zeros past
      // mr) stored 8 wide; the 2 extra lanes are overwritten by the next row. The last row is
      // stored in scalars so nothing is written past this panel.
      const __m256i mask =
          _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(mr)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      const float* src = a + p0 * lda + i0 + ir;
      for (int64_t p = 0; p + 1 < kc; ++p, src += lda) _mm256_storeu_ps(out + p * kMr, _mm256_maskload_ps(src, mask));
      for (int64_t r = 0; r < kMr; ++r) out[(kc - 1) * kMr + r] = r < mr ? src[r] : 0.0f;
    } else if (mr == kMr) {
      const float* r0 = a + (i0 + ir) * lda + p0;
      const float *r1 = r0 + lda, *r2 = r1 + lda, *r3 = r2 + lda, *r4 = r3 + lda, *r5 = r4 + lda;
      for (int64_t p = 0; p < kc; ++p) {
        float* o = out + p * kMr;
        o[0] = r0[p];
        o[1] = r1[p];
        o[2] = r2[p];
        o[3] = r3[p];
        o[4] = r4[p];
        o[5] = r5[p];
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        int64_t r = 0;
        for (; r < mr; ++r) out[p * kMr + r] = a[(i0 + ir + r) * lda + p0 + p];
        for (; r < kMr; ++r) out[p * kMr + r] = 0.0f;
      }
    }
    out += kMr * kc;
  }
}

// Packs the 16-wide panel op(B)[p0 : p0+kc, j0 : j0+16] as kc rows of 16 (zero-padded columns).
void pack_b_panel(bool trans, const float* b, int64_t ldb, int64_t j0, int64_t nr, int64_t p0, int64_t kc, float* out) {
  if (!trans) {
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = b + (p0 + p) * ldb + j0;
      float* o = out + p * kNr;
      if (nr == kNr) {
        _mm256_storeu_ps(o, _mm256_loadu_ps(src));
        _mm256_storeu_ps(o + 8, _mm256_loadu_ps(src + 8));
      } else {
        int64_t j = 0;
        for (; j < nr; ++j) o[j] = src[j];
        for (; j < kNr; ++j) o[j] = 0.0f;
      }
    }
    return;
  }
  for (int64_t j = 0; j < kNr; ++j) {
    if (j < nr) {
      const float* src = b + (j0 + j) * ldb + p0;
      for (int64_t p = 0; p < kc; ++p) out[p * kNr + j] = src[p];
    } else {
      for (int64_t p = 0; p < kc; ++p) out[p * kNr + j] = 0.0f;
    }
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
  }
}

}  // namespace

bool sgemm_native_available() { return true; }

void sgemm_native(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const int threads = (omp_in_parallel() || flops < kParallelFlops) ? 1 : omp_get_max_threads();
  const int64_t nc_max = std::min(n, kNc);
  const int64_t kc_max = std::min(k, kKc);
  std::unique_ptr<float[]> packed_b(new float[ceil_div(nc_max, kNr) * kNr * kc_max]);
  float* pb_all = packed_b.get();
  for (int64_t j0 = 0; j0 < n; j0 += kNc) {
    const int64_t nc = std::min(kNc, n - j0);
    const int64_t n_panels = ceil_div(nc, kNr);
    // Tiles: mc rows x panels_per_tile panels, at least 2 tiles per thread where the shape allows
    // (few rows, e.g. weight gradients: the N panels are split and each thread packs all of A;
    // with a single panel the rows are split instead).
    int64_t mc = kMc;
    int64_t tiles_m = ceil_div(m, mc);
    int64_t splits_n = 1;
    if (tiles_m < 2 * threads) splits_n = std::min(n_panels, ceil_div(2 * threads, tiles_m));
    if (tiles_m * splits_n < threads) {  // too few panels as well: split the rows finer
      mc = std::max(kMr, ceil_div(ceil_div(m, threads), kMr) * kMr);
      tiles_m = ceil_div(m, mc);
    }
    const int64_t panels_per_tile = ceil_div(n_panels, splits_n);
    splits_n = ceil_div(n_panels, panels_per_tile);
    const int64_t tiles = tiles_m * splits_n;

#pragma omp parallel num_threads(threads)
    {
      std::vector<float> packed_a(static_cast<size_t>(ceil_div(std::min(mc, m), kMr) * kMr * kc_max));
      for (int64_t p0 = 0; p0 < k; p0 += kKc) {
        const int64_t kc = std::min(kKc, k - p0);
        const float beta_eff = p0 == 0 ? beta : 1.0f;
#pragma omp for schedule(static)
        for (int64_t jp = 0; jp < n_panels; ++jp) {
          pack_b_panel(trans_b, b, ldb, j0 + jp * kNr, std::min(kNr, nc - jp * kNr), p0, kc, pb_all + jp * kNr * kc);
        }
        int64_t packed_ic = -1;
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tiles; ++t) {
          const int64_t ic = t / splits_n, js = t % splits_n;
          const int64_t i0 = ic * mc, mcur = std::min(mc, m - i0);
          if (ic != packed_ic) {
            pack_a(trans_a, a, lda, i0, mcur, p0, kc, packed_a.data());
            packed_ic = ic;
          }
          const int64_t jp_end = std::min(n_panels, (js + 1) * panels_per_tile);
          for (int64_t jp = js * panels_per_tile; jp < jp_end; ++jp) {
            const int64_t jj = j0 + jp * kNr, nr = std::min(kNr, n - jj);
            for (int64_t ir = 0; ir < mcur; ir += kMr) {
              micro_tile(std::min(kMr, mcur - ir), nr, kc, packed_a.data() + ir * kc, pb_all + jp * kNr * kc, alpha,
                         beta_eff, c + (i0 + ir) * ldc + jj, ldc);
            }
          }
        }
      }
    }
  }
}

#else

bool sgemm_native_available() { return false; }

void sgemm_native(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
                  float*, int64_t) {
  ATTNCAMP_THROW("sgemm_native: this build has no AVX2/FMA kernel; use the OpenBLAS path");
}

#endif

}  // namespace attncamp::ops::cpu
