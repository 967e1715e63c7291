// CPU fused attention: one OpenMP task per (batch, head) gathers the head's attendable keys and values
// into per-thread buffers (padded keys dropped, so causal masking is a prefix), then walks 8-query
// blocks: scores, softmax and weighted sum through a register-blocked micro-kernel. The tensor-level
// entry points (ops/cpu/attention_api.cpp) check shapes and call run_unpacked / run_packed.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/cpu/attention_cpu.h"

namespace attncamp::ops::cpu {
namespace {

// Pointers and strides of one attention call. Gradients share the strides of their inputs
// (dq with q, dk with k, dv with v) and dout those of out; lse is contiguous [B,H,Sq].
template <typename T>
struct AttentionParams {
  const T* q = nullptr;
  const T* k = nullptr;
  const T* v = nullptr;
  const uint8_t* key_valid = nullptr;  // [B,Sk] or nullptr (all keys valid)
  T* out = nullptr;
  T* lse = nullptr;
  const T* dout = nullptr;
  T* dq = nullptr;
  T* dk = nullptr;
  T* dv = nullptr;
  SeqStrides q_stride, k_stride, v_stride, out_stride;
  int64_t batch = 0, seq_q = 0, seq_k = 0, heads = 0, head_dim = 0;
  bool causal = false;
  T scale = 1;
};

// exp(x) for shifted scores (finite x <= 88; here x <= ~0): Cephes range reduction and a degree-6
// polynomial, relative error < 1e-7, 0 below about -87. Rounding uses the 1.5*2^23 trick and
// the exponent is built with integer selects, so loops calling it vectorize even without
// -fno-trapping-math (floats compared in selects would block if-conversion).
inline float exp_shifted(float x) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: t's low mantissa bits hold round(x * log2(e))
  const float t = x * 1.44269504088896341f + kMagic;
  const float n = t - kMagic;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  int32_t t_bits;
  std::memcpy(&t_bits, &t, sizeof(t_bits));
  const int32_t e = t_bits - 0x4B400000;  // minus the bits of kMagic: round(x * log2(e))
  const int32_t pow2_bits = e < -126 ? 0 : (e > 127 ? 0x7F800000 : (e + 127) << 23);
  float pow2n;
  std::memcpy(&pow2n, &pow2_bits, sizeof(pow2n));
  return y * pow2n;
}
inline double exp_shifted(double x) { return std::exp(x); }

constexpr int kRows = 8;  // query rows per block (and d rows per block of the key gradients)
constexpr int kW = 8;     // columns per vector chunk; buffers are padded to multiples of it

inline int64_t round_up(int64_t x) { return (x + kW - 1) / kW * kW; }

// c[r][x] (+)= sum_{k < k_n} a[r*lda + k] * b[k*ldb + x] for kRows rows and x < cols (a multiple
// of kW). The kRows x kW accumulators stay in registers; every call shape of the op uses it.
template <typename T>
void block_gemm(const T* a, int64_t lda, const T* b, int64_t ldb, int64_t k_n, int64_t cols, T* c, int64_t ldc,
                bool accumulate) {
  for (int64_t x0 = 0; x0 < cols; x0 += kW) {
    T acc[kRows][kW];
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
#pragma omp simd
      for (int w = 0; w < kW; ++w) acc[r][w] = accumulate ? c[r * ldc + x0 + w] : T(0);
    }
    for (int64_t k = 0; k < k_n; ++k) {
      const T* bk = b + k * ldb + x0;
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
        const T ar = a[r * lda + k];
#pragma omp simd
        for (int w = 0; w < kW; ++w) acc[r][w] += ar * bk[w];
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
#pragma omp simd
      for (int w = 0; w < kW; ++w) c[r * ldc + x0 + w] = acc[r][w];
    }
  }
}

// Per-thread scratch of one (batch, head) task; skp = Sk and dp = D rounded up to kW.
// Padding stays zero (or is ignored), so padded rows and columns add nothing.
template <typename T>
struct HeadScratch {
  int64_t skp = 0, dp = 0;
  std::vector<int32_t> keys;  // original index of each kept key, increasing: [Sk]
  std::vector<T> kt;          // scaled K, transposed: [dp][skp]
  std::vector<T> kr;          // scaled K, rows: [skp][dp] (backward)
  std::vector<T> vt;          // V transposed: [dp][skp] (backward)
  std::vector<T> vr;          // V rows: [skp][dp] (forward)
  std::vector<T> qb, gb;      // query rows and their output gradients: [kRows][dp]
  std::vector<T> qt, gt;      // all query rows and output gradients, transposed: [dp][sqp] (backward)
  std::vector<T> s, ds;       // probabilities and their gradient: [kRows][skp], or [sqp][skp] (backward)
  std::vector<T> ob;          // unnormalised output rows: [kRows][dp]
  std::vector<T> dkt, dvt;    // key and value gradients, transposed: [dp][skp] (backward)

  int64_t sqp = 0;  // Sq rounded up to kRows (backward)

  HeadScratch(int64_t sq, int64_t sk, int64_t d, bool backward)
      : skp(round_up(sk)), dp(round_up(d)), sqp((sq + kRows - 1) / kRows * kRows) {
    keys.resize(sk);
    kt.resize(dp * skp);
    qb.resize(kRows * dp);
    s.resize((backward ? sqp : kRows) * skp);
    ob.resize(kRows * dp);
    if (backward) {
      kr.resize(skp * dp);
      vt.resize(dp * skp);
      gb.resize(kRows * dp);
      qt.resize(dp * sqp);
      gt.resize(dp * sqp);
      ds.resize(sqp * skp);
      dkt.resize(dp * skp);
      dvt.resize(dp * skp);
    } else {
      vr.resize(skp * dp);
    }
  }
};

// Gathers the kept keys of (b, h) into the scratch; returns how many there are.
template <typename T>
int64_t gather_keys(const AttentionParams<T>& p, int64_t b, int64_t h, bool backward, HeadScratch<T>& w) {
  const int64_t sk = p.seq_k, d_n = p.head_dim, skp = w.skp, dp = w.dp;
  int64_t nk = 0;
  for (int64_t j = 0; j < sk; ++j) {
    if (p.key_valid == nullptr || p.key_valid[b * sk + j] != 0) w.keys[nk++] = static_cast<int32_t>(j);
  }
  for (int64_t c = 0; c < nk; ++c) {
    const int64_t j = w.keys[c];
    const T* kj = p.k + b * p.k_stride.batch + j * p.k_stride.seq + h * p.k_stride.head;
    const T* vj = p.v + b * p.v_stride.batch + j * p.v_stride.seq + h * p.v_stride.head;
    for (int64_t d = 0; d < d_n; ++d) {
      w.kt[d * skp + c] = kj[d] * p.scale;
      if (backward) {
        w.kr[c * dp + d] = kj[d] * p.scale;
        w.vt[d * skp + c] = vj[d];
      } else {
        w.vr[c * dp + d] = vj[d];
      }
    }
  }
  return nk;
}

// Number of kept keys row i may attend (a prefix of them under causal masking).
inline int64_t attendable(const int32_t* keys, int64_t nk, int64_t i, int64_t seq_q, bool causal) {
  if (i >= seq_q) return 0;
  if (!causal) return nk;
  int64_t n = 0;
  while (n < nk && keys[n] <= i) ++n;
  return n;
}

// Copies query-shaped rows i0.. of (b, h) into blk [kRows][dp] (and its transpose when given),
// zero for rows past Sq.
template <typename T>
void load_rows(const T* base, const SeqStrides& st, int64_t b, int64_t h, int64_t i0, int64_t seq_q, int64_t d_n,
               int64_t dp, T* blk, T* blk_t, int64_t ldt = kRows) {
  for (int r = 0; r < kRows; ++r) {
    const int64_t i = i0 + r;
    const T* x = base + b * st.batch + i * st.seq + h * st.head;
    for (int64_t d = 0; d < d_n; ++d) {
      const T val = i < seq_q ? x[d] : T(0);
      blk[r * dp + d] = val;
      if (blk_t != nullptr) blk_t[d * ldt + r] = val;
    }
  }
}

template <typename T>
void forward_kernel(const AttentionParams<T>& p) {
  const int64_t d_n = p.head_dim, nbh = p.batch * p.heads;
#pragma omp parallel
  {
    HeadScratch<T> w(p.seq_q, p.seq_k, d_n, false);
    const int64_t skp = w.skp, dp = w.dp;
    int64_t n_row[kRows];
    T sum_row[kRows];
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < nbh; ++bh) {
      const int64_t b = bh / p.heads, h = bh % p.heads;
      const int64_t nk = gather_keys(p, b, h, false, w);
      for (int64_t i0 = 0; i0 < p.seq_q; i0 += kRows) {
        int64_t n_blk = 0;
        for (int r = 0; r < kRows; ++r) {
          n_row[r] = attendable(w.keys.data(), nk, i0 + r, p.seq_q, p.causal);
          n_blk = std::max(n_blk, n_row[r]);
        }
        const int64_t cols = round_up(n_blk);
        load_rows(p.q, p.q_stride, b, h, i0, p.seq_q, d_n, dp, w.qb.data(), static_cast<T*>(nullptr));
        block_gemm(w.qb.data(), dp, w.kt.data(), skp, d_n, cols, w.s.data(), skp, false);
        for (int r = 0; r < kRows; ++r) {
          T* s = w.s.data() + r * skp;
          const int64_t n = n_row[r];
          const T first = n > 0 ? s[0] : T(0);
          for (int64_t c = n; c < cols; ++c) s[c] = first;
          T lane[kW];
          for (int w = 0; w < kW; ++w) lane[w] = first;
          for (int64_t c0 = 0; c0 < cols; c0 += kW) {
#pragma omp simd
            for (int w = 0; w < kW; ++w) lane[w] = s[c0 + w] > lane[w] ? s[c0 + w] : lane[w];
          }
          T mx = lane[0];
          for (int w = 1; w < kW; ++w) mx = lane[w] > mx ? lane[w] : mx;
#pragma omp simd
          for (int64_t c = 0; c < n; ++c) s[c] = exp_shifted(s[c] - mx);
          for (int64_t c = n; c < cols; ++c) s[c] = 0;
          for (int w = 0; w < kW; ++w) lane[w] = 0;
          for (int64_t c0 = 0; c0 < cols; c0 += kW) {
#pragma omp simd
            for (int w = 0; w < kW; ++w) lane[w] += s[c0 + w];
          }
          T sum = 0;
          for (int w = 0; w < kW; ++w) sum += lane[w];
          sum_row[r] = sum;
          if (i0 + r < p.seq_q) {
            p.lse[bh * p.seq_q + i0 + r] = n > 0 ? mx + std::log(sum) : -std::numeric_limits<T>::infinity();
          }
        }
        block_gemm(w.s.data(), skp, w.vr.data(), dp, n_blk, dp, w.ob.data(), dp, false);
        for (int r = 0; r < kRows && i0 + r < p.seq_q; ++r) {
          T* o = p.out + b * p.out_stride.batch + (i0 + r) * p.out_stride.seq + h * p.out_stride.head;
          const T inv = n_row[r] > 0 ? T(1) / sum_row[r] : T(0);
          for (int64_t d = 0; d < d_n; ++d) o[d] = w.ob[r * dp + d] * inv;
        }
      }
    }
  }
}

template <typename T>
void backward_kernel(const AttentionParams<T>& p) {
  const int64_t sk = p.seq_k, d_n = p.head_dim, nbh = p.batch * p.heads;
#pragma omp parallel
  {
    HeadScratch<T> w(p.seq_q, sk, d_n, true);
    const int64_t skp = w.skp, dp = w.dp, sqp = w.sqp;
    int64_t n_row[kRows];
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < nbh; ++bh) {
      const int64_t b = bh / p.heads, h = bh % p.heads;
      const int64_t nk = gather_keys(p, b, h, true, w);
      // Probabilities and score gradients of all query rows are kept, so dK and dV come from one
      // product over all queries at the end (instead of read-modify-write per 8-row block).
      std::fill(w.s.begin(), w.s.end(), T(0));
      std::fill(w.ds.begin(), w.ds.end(), T(0));
      for (int64_t i0 = 0; i0 < p.seq_q; i0 += kRows) {
        int64_t n_blk = 0;
        for (int r = 0; r < kRows; ++r) {
          n_row[r] = attendable(w.keys.data(), nk, i0 + r, p.seq_q, p.causal);
          n_blk = std::max(n_blk, n_row[r]);
        }
        const int64_t cols = round_up(n_blk);
        T* s_blk = w.s.data() + i0 * skp;
        T* ds_blk = w.ds.data() + i0 * skp;
        load_rows(p.q, p.q_stride, b, h, i0, p.seq_q, d_n, dp, w.qb.data(), w.qt.data() + i0, sqp);
        load_rows(p.dout, p.out_stride, b, h, i0, p.seq_q, d_n, dp, w.gb.data(), w.gt.data() + i0, sqp);
        block_gemm(w.qb.data(), dp, w.kt.data(), skp, d_n, cols, s_blk, skp, false);
        block_gemm(w.gb.data(), dp, w.vt.data(), skp, d_n, cols, ds_blk, skp, false);
        for (int r = 0; r < kRows; ++r) {
          T* s = s_blk + r * skp;
          T* ds = ds_blk + r * skp;
          const int64_t n = n_row[r];
          if (n > 0) {
            const int64_t i = i0 + r;
            const T* o = p.out + b * p.out_stride.batch + i * p.out_stride.seq + h * p.out_stride.head;
            const T* go = w.gb.data() + r * dp;
            const T lse = p.lse[bh * p.seq_q + i];
            T delta = 0;
            for (int64_t d = 0; d < d_n; ++d) delta += go[d] * o[d];
#pragma omp simd
            for (int64_t c = 0; c < n; ++c) {
              s[c] = exp_shifted(s[c] - lse);
              ds[c] = s[c] * (ds[c] - delta);
            }
          }
          for (int64_t c = n; c < cols; ++c) s[c] = ds[c] = 0;
        }
        block_gemm(ds_blk, skp, w.kr.data(), dp, n_blk, dp, w.ob.data(), dp, false);
        for (int r = 0; r < kRows && i0 + r < p.seq_q; ++r) {
          T* dq = p.dq + b * p.q_stride.batch + (i0 + r) * p.q_stride.seq + h * p.q_stride.head;
          for (int64_t d = 0; d < d_n; ++d) dq[d] = w.ob[r * dp + d];
        }
      }
      // dV^T = dO^T P and dK^T = Q^T dS over all (zero-padded) query rows.
      const int64_t cols_all = round_up(nk);
      for (int64_t d0 = 0; d0 < dp; d0 += kRows) {
        block_gemm(w.gt.data() + d0 * sqp, sqp, w.s.data(), skp, sqp, cols_all, w.dvt.data() + d0 * skp, skp, false);
        block_gemm(w.qt.data() + d0 * sqp, sqp, w.ds.data(), skp, sqp, cols_all, w.dkt.data() + d0 * skp, skp, false);
      }
      for (int64_t j = 0; j < sk; ++j) {
        T* dk = p.dk + b * p.k_stride.batch + j * p.k_stride.seq + h * p.k_stride.head;
        T* dv = p.dv + b * p.v_stride.batch + j * p.v_stride.seq + h * p.v_stride.head;
        for (int64_t d = 0; d < d_n; ++d) dk[d] = dv[d] = 0;
      }
      for (int64_t c = 0; c < nk; ++c) {
        const int64_t j = w.keys[c];
        T* dk = p.dk + b * p.k_stride.batch + j * p.k_stride.seq + h * p.k_stride.head;
        T* dv = p.dv + b * p.v_stride.batch + j * p.v_stride.seq + h * p.v_stride.head;
        for (int64_t d = 0; d < d_n; ++d) {
          dk[d] = w.dkt[d * skp + c] * p.scale;
          dv[d] = w.dvt[d * skp + c];
        }
      }
    }
  }
}

template <typename T>
AttentionParams<T> make_params(const AttnDims& a, const AttentionOptions& opt, const Tensor& key_valid) {
  AttentionParams<T> p;
  p.batch = a.batch;
  p.seq_q = a.seq_q;
  p.seq_k = a.seq_k;
  p.heads = a.heads;
  p.head_dim = a.head_dim;
  p.causal = opt.causal;
  p.scale = static_cast<T>(resolve_scale(opt, a.head_dim));
  p.key_valid = key_valid.defined() ? key_valid.data<uint8_t>() : nullptr;
  return p;
}

// Fills the pointers of unpacked q, k, v, out, lse (and gradients when `dq` is defined).
template <typename T>
void run_unpacked_t(const AttnDims& a, const AttentionOptions& opt, const Tensor& q, const Tensor& k, const Tensor& v,
                    const Tensor& key_valid, const Tensor& out, const Tensor& lse, const Tensor* dout, Tensor* dq,
                    Tensor* dk, Tensor* dv) {
  AttentionParams<T> p = make_params<T>(a, opt, key_valid);
  p.q = q.data<T>();
  p.k = k.data<T>();
  p.v = v.data<T>();
  p.out = out.data<T>();
  p.lse = lse.data<T>();
  p.q_stride = p.out_stride = dense_strides(a, a.seq_q);
  p.k_stride = p.v_stride = dense_strides(a, a.seq_k);
  if (dout == nullptr) {
    forward_kernel(p);
    return;
  }
  p.dout = dout->data<T>();
  p.dq = dq->data<T>();
  p.dk = dk->data<T>();
  p.dv = dv->data<T>();
  backward_kernel(p);
}

template <typename T>
void run_packed_t(const AttnDims& a, const AttentionOptions& opt, const Tensor& qkv, const Tensor& key_valid,
                  const Tensor& out, const Tensor& lse, const Tensor* dout, Tensor* dqkv) {
  AttentionParams<T> p = make_params<T>(a, opt, key_valid);
  const int64_t hd = a.heads * a.head_dim;
  p.q_stride = p.k_stride = p.v_stride = packed_strides(a);
  p.out_stride = dense_strides(a, a.seq_q);
  const T* base = qkv.data<T>();
  p.q = base;
  p.k = base + hd;
  p.v = base + 2 * hd;
  p.out = out.data<T>();
  p.lse = lse.data<T>();
  if (dout == nullptr) {
    forward_kernel(p);
    return;
  }
  T* dbase = dqkv->data<T>();
  p.dout = dout->data<T>();
  p.dq = dbase;
  p.dk = dbase + hd;
  p.dv = dbase + 2 * hd;
  backward_kernel(p);
}

}  // namespace

double resolve_scale(const AttentionOptions& opt, int64_t head_dim) {
  ATTNCAMP_CHECK(std::isfinite(opt.scale), "attention scale must be finite, got ", opt.scale);
  return opt.scale == 0 ? 1.0 / std::sqrt(static_cast<double>(head_dim)) : opt.scale;
}

SeqStrides dense_strides(const AttnDims& a, int64_t seq) {
  return SeqStrides{seq * a.heads * a.head_dim, a.heads * a.head_dim, a.head_dim};
}

SeqStrides packed_strides(const AttnDims& a) {
  const int64_t hd = a.heads * a.head_dim;
  return SeqStrides{a.seq_q * 3 * hd, 3 * hd, a.head_dim};
}

void run_unpacked(const AttnDims& a, const AttentionOptions& opt, const Tensor& q, const Tensor& k, const Tensor& v,
                  const Tensor& key_valid, const Tensor& out, const Tensor& lse, const Tensor* dout, Tensor* dq,
                  Tensor* dk, Tensor* dv) {
  if (q.dtype() == DType::kF32) {
    run_unpacked_t<float>(a, opt, q, k, v, key_valid, out, lse, dout, dq, dk, dv);
  } else {
    run_unpacked_t<double>(a, opt, q, k, v, key_valid, out, lse, dout, dq, dk, dv);
  }
}

void run_packed(const AttnDims& a, const AttentionOptions& opt, const Tensor& qkv, const Tensor& key_valid,
                const Tensor& out, const Tensor& lse, const Tensor* dout, Tensor* dqkv) {
  if (qkv.dtype() == DType::kF32) {
    run_packed_t<float>(a, opt, qkv, key_valid, out, lse, dout, dqkv);
  } else {
    run_packed_t<double>(a, opt, qkv, key_valid, out, lse, dout, dqkv);
  }
}

}  // namespace attncamp::ops::cpu
