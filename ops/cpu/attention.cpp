// CPU fused attention: one OpenMP task per (batch, head) gathers the head's attendable keys and values
// into per-thread buffers (padded keys dropped, so causal masking is a prefix), then walks 8-query
// blocks: scores, softmax and weighted sum through a register-blocked micro-kernel. The tensor-level
// functions at the end check shapes for both devices and send CUDA tensors to ops/cuda/attention*.cu.
#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ops/dispatch.h"
#include "runtime/env.h"

namespace attncamp::ops::cpu {
namespace {

// Element strides of a [B,S,H,D] view (the D stride is 1).
struct SeqStrides {
  int64_t batch = 0, seq = 0, head = 0;
};

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

// Shapes of one call, checked at the tensor level.
struct AttnDims {
  int64_t batch, seq_q, seq_k, heads, head_dim;
};

// q's (or qkv's) dtype on the device the call runs on: f32 or f64 on the CPU; f32, bf16 or f16
// on CUDA.
void check_input_dtype(const char* op, const Tensor& t, const char* what, bool cuda) {
  ATTNCAMP_CHECK(t.defined(), what, " is undefined");
  if (cuda) {
    check_cuda_activation(op, what, t);
    return;
  }
  ATTNCAMP_CHECK(t.dtype() == DType::kF32 || t.dtype() == DType::kF64, what, " must be f32 or f64, got ",
                 dtype_name(t.dtype()));
}

void check_mask(const Tensor& key_valid, const AttnDims& a) {
  if (key_valid.defined()) check_tensor(key_valid, {a.batch, a.seq_k}, DType::kU8, "attention key_valid");
}

double resolve_scale(const AttentionOptions& opt, int64_t head_dim) {
  ATTNCAMP_CHECK(std::isfinite(opt.scale), "attention scale must be finite, got ", opt.scale);
  return opt.scale == 0 ? 1.0 / std::sqrt(static_cast<double>(head_dim)) : opt.scale;
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

// Strides of a contiguous [B,S,H,D] tensor.
SeqStrides dense_strides(const AttnDims& a, int64_t seq) {
  return SeqStrides{seq * a.heads * a.head_dim, a.heads * a.head_dim, a.head_dim};
}

// Strides of q, k and v (and their gradients) inside a packed [B,S,3,H,D] tensor; k and v start
// H*D and 2*H*D elements after q.
SeqStrides packed_strides(const AttnDims& a) {
  const int64_t hd = a.heads * a.head_dim;
  return SeqStrides{a.seq_q * 3 * hd, 3 * hd, a.head_dim};
}

// Fills the pointers of unpacked q, k, v, out, lse (and gradients when `dq` is defined).
template <typename T>
void run_unpacked(const AttnDims& a, const AttentionOptions& opt, const Tensor& q, const Tensor& k, const Tensor& v,
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
void run_packed(const AttnDims& a, const AttentionOptions& opt, const Tensor& qkv, const Tensor& key_valid,
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

AttnDims check_unpacked(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                        bool cuda) {
  check_input_dtype(op, q, "attention q", cuda);
  ATTNCAMP_CHECK(q.dim() == 4, "attention q must be [B,Sq,H,D], got ", shape_str(q.shape()));
  ATTNCAMP_CHECK(k.defined() && k.dim() == 4, "attention k must be [B,Sk,H,D], got ", shape_str(k.shape()));
  const AttnDims a{q.size(0), q.size(1), k.size(1), q.size(2), q.size(3)};
  ATTNCAMP_CHECK(a.head_dim > 0, "attention head dim must be positive, q has shape ", shape_str(q.shape()));
  check_tensor(q, q.shape(), q.dtype(), "attention q");
  check_tensor(k, {a.batch, a.seq_k, a.heads, a.head_dim}, q.dtype(), "attention k");
  check_tensor(v, k.shape(), q.dtype(), "attention v");
  check_mask(key_valid, a);
  return a;
}

AttnDims check_packed(const char* op, const Tensor& qkv, const Tensor& key_valid, bool cuda) {
  check_input_dtype(op, qkv, "attention qkv", cuda);
  ATTNCAMP_CHECK(qkv.dim() == 5 && qkv.size(2) == 3, "attention qkv must be [B,S,3,H,D], got ", shape_str(qkv.shape()));
  const AttnDims a{qkv.size(0), qkv.size(1), qkv.size(1), qkv.size(3), qkv.size(4)};
  ATTNCAMP_CHECK(a.head_dim > 0, "attention head dim must be positive, qkv has shape ", shape_str(qkv.shape()));
  check_tensor(qkv, qkv.shape(), qkv.dtype(), "attention qkv");
  check_mask(key_valid, a);
  return a;
}

// out has the inputs' dtype; lse too on the CPU, f32 on CUDA.
void check_outputs(const AttnDims& a, DType dt, const Tensor& out, const Tensor& lse, bool cuda) {
  check_tensor(out, {a.batch, a.seq_q, a.heads, a.head_dim}, dt, "attention out");
  check_tensor(lse, {a.batch, a.heads, a.seq_q}, cuda ? DType::kF32 : dt, "attention lse");
}

}  // namespace
}  // namespace attncamp::ops::cpu

#ifdef ATTNCAMP_WITH_CUDA
namespace attncamp::ops {
namespace {

cuda::SeqStrides to_cuda(const cpu::SeqStrides& s) { return cuda::SeqStrides{s.batch, s.seq, s.head}; }

// Launch arguments shared by every CUDA call: sizes, options, mask, out and lse.
cuda::AttentionArgs cuda_args(const cpu::AttnDims& a, const AttentionOptions& opt, DType dtype, const Tensor& key_valid,
                              const Tensor& out, const Tensor& lse) {
  cuda::AttentionArgs c;
  c.batch = a.batch;
  c.seq_q = a.seq_q;
  c.seq_k = a.seq_k;
  c.heads = a.heads;
  c.head_dim = a.head_dim;
  c.dtype = dtype;
  c.causal = opt.causal;
  c.scale = static_cast<float>(cpu::resolve_scale(opt, a.head_dim));
  c.key_valid = key_valid.defined() ? key_valid.data<uint8_t>() : nullptr;
  c.out = out.raw_data();
  c.lse = lse.data<float>();
  c.out_stride = to_cuda(cpu::dense_strides(a, a.seq_q));
  c.device = out.device().index;
  return c;
}

// Unpacked q, k, v (and dq, dk, dv when given): contiguous [B,S,H,D].
void set_unpacked(const cpu::AttnDims& a, const Tensor& q, const Tensor& k, const Tensor& v, Tensor* dq, Tensor* dk,
                  Tensor* dv, cuda::AttentionArgs& c) {
  c.q = q.raw_data();
  c.k = k.raw_data();
  c.v = v.raw_data();
  c.q_stride = to_cuda(cpu::dense_strides(a, a.seq_q));
  c.k_stride = c.v_stride = to_cuda(cpu::dense_strides(a, a.seq_k));
  if (dq == nullptr) return;
  c.dq = dq->raw_data();
  c.dk = dk->raw_data();
  c.dv = dv->raw_data();
}

// q, k, v (and dq, dk, dv when dqkv is given) as strided views of packed [B,S,3,H,D] tensors.
void set_packed(const cpu::AttnDims& a, const Tensor& qkv, Tensor* dqkv, cuda::AttentionArgs& c) {
  const int64_t hd_bytes = a.heads * a.head_dim * static_cast<int64_t>(dtype_size(qkv.dtype()));
  const char* base = static_cast<const char*>(qkv.raw_data());
  c.q = base;
  c.k = base + hd_bytes;
  c.v = base + 2 * hd_bytes;
  c.q_stride = c.k_stride = c.v_stride = to_cuda(cpu::packed_strides(a));
  if (dqkv == nullptr) return;
  char* dbase = static_cast<char*>(dqkv->raw_data());
  c.dq = dbase;
  c.dk = dbase + hd_bytes;
  c.dv = dbase + 2 * hd_bytes;
}

// Every row the kernels read or write starts 16-byte aligned (the tensor-core path loads rows
// in 16-byte chunks).
bool rows_aligned(const cuda::AttentionArgs& c) {
  const int64_t elem = static_cast<int64_t>(dtype_size(c.dtype));
  for (const void* ptr : {c.q, c.k, c.v, static_cast<const void*>(c.out), c.dout, static_cast<const void*>(c.dq),
                          static_cast<const void*>(c.dk), static_cast<const void*>(c.dv)}) {
    if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0) return false;
  }
  for (const cuda::SeqStrides* st : {&c.q_stride, &c.k_stride, &c.v_stride, &c.out_stride}) {
    for (const int64_t s : {st->batch, st->seq, st->head}) {
      if (s * elem % 16 != 0) return false;
    }
  }
  return true;
}

// Picks the kernel family and runs the forward, or with `backward` the backward (with a delta
// workspace on the call's device and stream).
void run_cuda(cuda::AttentionArgs& c, const AttentionOptions& opt, bool backward) {
  c.impl = resolve_attention_impl(opt.impl, c.dtype, c.head_dim, rows_aligned(c));
  const bool deterministic = resolve_attention_deterministic(opt.deterministic);
  const int variant = backward ? opt.backward_variant : opt.forward_variant;
  const char* field = backward ? "backward_variant" : "forward_variant";
  ATTNCAMP_CHECK(variant >= -1, "attention ", field, " must be -1 (default) or a variant index, got ", variant);
  ATTNCAMP_CHECK(variant == -1 || c.impl == AttentionImpl::kMma, "attention ", field, " ", variant,
                 " picks a tensor-core kernel shape, but this call runs the simple kernels");
  ATTNCAMP_CHECK(variant == -1 || !backward || !deterministic, "attention backward_variant ", variant,
                 " picks an atomic-dQ backward shape, but the backward is deterministic (one shape)");
  c.forward_variant = opt.forward_variant;
  c.backward_variant = opt.backward_variant;
  c.autotune = c.impl == AttentionImpl::kMma && !deterministic && attention_autotune_enabled();
  if (!backward) {
    cuda::attention_forward(c);
    return;
  }
  Tensor delta = Tensor::empty({c.batch, c.heads, c.seq_q}, DType::kF32, Device::cuda(c.device));
  c.delta = delta.data<float>();
  Tensor dq_accum;
  if (c.impl == AttentionImpl::kMma && !deterministic) {
    dq_accum = Tensor::empty({c.batch, c.heads, c.seq_q, c.head_dim}, DType::kF32, Device::cuda(c.device));
    c.dq_accum = dq_accum.data<float>();
  }
  cuda::attention_backward(c);
}

}  // namespace
}  // namespace attncamp::ops
#endif

namespace attncamp::ops {

AttentionImpl resolve_attention_impl(AttentionImpl requested, DType dtype, int64_t head_dim, bool rows_aligned) {
  AttentionImpl impl = requested;
  if (impl == AttentionImpl::kAuto) {
    const char* env_value = std::getenv(env::kAttentionImpl);
    const std::string choice = env_value != nullptr ? env_value : "";
    if (choice == "simple") {
      impl = AttentionImpl::kSimple;
    } else if (choice == "mma") {
      impl = AttentionImpl::kMma;
    } else {
      ATTNCAMP_CHECK(choice.empty() || choice == "auto", env::kAttentionImpl, " must be auto, simple or mma, got '",
                     choice, "'");
    }
  }
  const bool mma_fits = (dtype == DType::kBF16 || dtype == DType::kF16) &&
                        (head_dim == 32 || head_dim == 64 || head_dim == 128) && rows_aligned;
  if (impl == AttentionImpl::kAuto) impl = mma_fits ? AttentionImpl::kMma : AttentionImpl::kSimple;
  if (impl == AttentionImpl::kMma) {
    ATTNCAMP_CHECK(mma_fits, "tensor-core attention (mma) needs bf16 or f16, head dim 32, 64 or 128 and 16-byte ",
                   "aligned rows; got ", dtype_name(dtype), ", head dim ", head_dim,
                   rows_aligned ? "" : ", unaligned rows");
  } else {
    ATTNCAMP_CHECK(head_dim <= 256, "attention on CUDA supports head dims up to 256, got ", head_dim);
  }
  return impl;
}

bool resolve_attention_deterministic(bool requested) { return env::flag(env::kDeterministic) || requested; }

bool attention_autotune_enabled() {
  const bool deterministic = env::flag(env::kDeterministic);
  return env::flag(env::kAttentionAutotune) && !deterministic;
}

#ifndef ATTNCAMP_WITH_CUDA
std::vector<std::string> attention_mma_variants(AttentionPass /*pass*/, DType /*dtype*/, int64_t /*head_dim*/) {
  ATTNCAMP_THROW("attention_mma_variants: attncamp was built without CUDA (no tensor-core kernels)");
}

std::vector<std::string> attention_autotune_report() { return {}; }
#endif

void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                       const AttentionOptions& opt, Tensor& out, Tensor& lse) {
  const char* op = "attention_forward";
  const bool cuda = on_cuda(op, {&q, &k, &v, &key_valid, &out, &lse});
  const cpu::AttnDims a = cpu::check_unpacked(op, q, k, v, key_valid, cuda);
  cpu::check_outputs(a, q.dtype(), out, lse, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::AttentionArgs c = cuda_args(a, opt, q.dtype(), key_valid, out, lse);
    set_unpacked(a, q, k, v, nullptr, nullptr, nullptr, c);
    run_cuda(c, opt, false);
#endif
    return;
  }
  if (q.dtype() == DType::kF32) {
    cpu::run_unpacked<float>(a, opt, q, k, v, key_valid, out, lse, nullptr, nullptr, nullptr, nullptr);
  } else {
    cpu::run_unpacked<double>(a, opt, q, k, v, key_valid, out, lse, nullptr, nullptr, nullptr, nullptr);
  }
}

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                        const AttentionOptions& opt, const Tensor& out, const Tensor& lse, const Tensor& dout,
                        Tensor& dq, Tensor& dk, Tensor& dv) {
  const char* op = "attention_backward";
  const bool cuda = on_cuda(op, {&q, &k, &v, &key_valid, &out, &lse, &dout, &dq, &dk, &dv});
  const cpu::AttnDims a = cpu::check_unpacked(op, q, k, v, key_valid, cuda);
  cpu::check_outputs(a, q.dtype(), out, lse, cuda);
  check_tensor(dout, out.shape(), q.dtype(), "attention dout");
  check_tensor(dq, q.shape(), q.dtype(), "attention dq");
  check_tensor(dk, k.shape(), q.dtype(), "attention dk");
  check_tensor(dv, v.shape(), q.dtype(), "attention dv");
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::AttentionArgs c = cuda_args(a, opt, q.dtype(), key_valid, out, lse);
    set_unpacked(a, q, k, v, &dq, &dk, &dv, c);
    c.dout = dout.raw_data();
    run_cuda(c, opt, true);
#endif
    return;
  }
  if (q.dtype() == DType::kF32) {
    cpu::run_unpacked<float>(a, opt, q, k, v, key_valid, out, lse, &dout, &dq, &dk, &dv);
  } else {
    cpu::run_unpacked<double>(a, opt, q, k, v, key_valid, out, lse, &dout, &dq, &dk, &dv);
  }
}

void attention_qkvpacked_forward(const Tensor& qkv, const Tensor& key_valid, const AttentionOptions& opt, Tensor& out,
                                 Tensor& lse) {
  const char* op = "attention_qkvpacked_forward";
  const bool cuda = on_cuda(op, {&qkv, &key_valid, &out, &lse});
  const cpu::AttnDims a = cpu::check_packed(op, qkv, key_valid, cuda);
  cpu::check_outputs(a, qkv.dtype(), out, lse, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::AttentionArgs c = cuda_args(a, opt, qkv.dtype(), key_valid, out, lse);
    set_packed(a, qkv, nullptr, c);
    run_cuda(c, opt, false);
#endif
    return;
  }
  if (qkv.dtype() == DType::kF32) {
    cpu::run_packed<float>(a, opt, qkv, key_valid, out, lse, nullptr, nullptr);
  } else {
    cpu::run_packed<double>(a, opt, qkv, key_valid, out, lse, nullptr, nullptr);
  }
}

void attention_qkvpacked_backward(const Tensor& qkv, const Tensor& key_valid, const AttentionOptions& opt,
                                  const Tensor& out, const Tensor& lse, const Tensor& dout, Tensor& dqkv) {
  const char* op = "attention_qkvpacked_backward";
  const bool cuda = on_cuda(op, {&qkv, &key_valid, &out, &lse, &dout, &dqkv});
  const cpu::AttnDims a = cpu::check_packed(op, qkv, key_valid, cuda);
  cpu::check_outputs(a, qkv.dtype(), out, lse, cuda);
  check_tensor(dout, out.shape(), qkv.dtype(), "attention dout");
  check_tensor(dqkv, qkv.shape(), qkv.dtype(), "attention dqkv");
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::AttentionArgs c = cuda_args(a, opt, qkv.dtype(), key_valid, out, lse);
    set_packed(a, qkv, &dqkv, c);
    c.dout = dout.raw_data();
    run_cuda(c, opt, true);
#endif
    return;
  }
  if (qkv.dtype() == DType::kF32) {
    cpu::run_packed<float>(a, opt, qkv, key_valid, out, lse, &dout, &dqkv);
  } else {
    cpu::run_packed<double>(a, opt, qkv, key_valid, out, lse, &dout, &dqkv);
  }
}

}  // namespace attncamp::ops
