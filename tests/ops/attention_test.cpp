// Tests for fused attention: forward against a naive reference with an explicit scores matrix,
// packed against unpacked, backward against finite differences (f64), f32 against f64 with a
// tolerance from f32's own reference error, masks, causal alignment and shape errors. Key masks
// and lse_diff come from attention_test_cases.h, shared with the CUDA attention tests.
#include "ops/attention.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tests/ops/attention_test_cases.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::attention::lse_diff;
using test::attention::make_mask;

struct Case {
  int64_t b, sq, sk, h, d;
  bool causal;
  bool masked;
};

// Naive attention in T with an explicit [Sq,Sk] scores matrix per (b,h); same contract as the op.
template <typename T>
void reference(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal, Tensor& out,
               Tensor& lse) {
  const int64_t B = q.size(0), Sq = q.size(1), H = q.size(2), D = q.size(3), Sk = k.size(1);
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(D)));
  out = Tensor::empty(q.shape(), q.dtype());
  lse = Tensor::empty({B, H, Sq}, q.dtype());
  const T *pq = q.data<T>(), *pk = k.data<T>(), *pv = v.data<T>();
  T *po = out.data<T>(), *pl = lse.data<T>();
  std::vector<T> s(Sq * Sk);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < Sq; ++i) {
        for (int64_t j = 0; j < Sk; ++j) {
          T acc = 0;
          for (int64_t d = 0; d < D; ++d)
            acc += pq[((b * Sq + i) * H + h) * D + d] * pk[((b * Sk + j) * H + h) * D + d];
          const bool ok = (!mask.defined() || mask.data<uint8_t>()[b * Sk + j]) && (!causal || j <= i);
          s[i * Sk + j] = ok ? acc * scale : -std::numeric_limits<T>::infinity();
        }
      }
      for (int64_t i = 0; i < Sq; ++i) {
        T mx = -std::numeric_limits<T>::infinity();
        for (int64_t j = 0; j < Sk; ++j) mx = std::max(mx, s[i * Sk + j]);
        T* o = po + ((b * Sq + i) * H + h) * D;
        if (std::isinf(mx)) {
          for (int64_t d = 0; d < D; ++d) o[d] = 0;
          pl[(b * H + h) * Sq + i] = mx;
          continue;
        }
        T sum = 0;
        for (int64_t j = 0; j < Sk; ++j) sum += std::exp(s[i * Sk + j] - mx);
        for (int64_t d = 0; d < D; ++d) {
          T acc = 0;
          for (int64_t j = 0; j < Sk; ++j)
            acc += std::exp(s[i * Sk + j] - mx) / sum * pv[((b * Sk + j) * H + h) * D + d];
          o[d] = acc;
        }
        pl[(b * H + h) * Sq + i] = mx + std::log(sum);
      }
    }
  }
}

struct Outputs {
  Tensor out, lse;
};

Outputs run_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal) {
  Outputs r;
  r.out = Tensor::empty(q.shape(), q.dtype());
  r.lse = Tensor::empty({q.size(0), q.size(2), q.size(1)}, q.dtype());
  r.out.poison();
  r.lse.poison();
  ops::AttentionOptions opt;
  opt.causal = causal;
  ops::attention_forward(q, k, v, mask, opt, r.out, r.lse);
  return r;
}

const std::vector<Case> kCases = {
    {2, 7, 7, 3, 8, false, false},    {2, 50, 50, 4, 16, false, true}, {1, 13, 29, 2, 32, true, false},
    {3, 33, 17, 1, 64, true, true},   {2, 19, 19, 2, 16, true, true},  {4, 1, 9, 2, 8, false, true},
    {2, 65, 65, 2, 16, false, false}, {2, 29, 11, 3, 32, false, true},
};

TEST(Attention, ForwardMatchesNaiveReferenceF64) {
  uint64_t seed = 1;
  for (const Case& c : kCases) {
    SCOPED_TRACE(testing::Message() << "B=" << c.b << " Sq=" << c.sq << " Sk=" << c.sk << " H=" << c.h << " D=" << c.d
                                    << " causal=" << c.causal << " masked=" << c.masked);
    Tensor q = test::random_tensor({c.b, c.sq, c.h, c.d}, DType::kF64, seed++, -2, 2);
    Tensor k = test::random_tensor({c.b, c.sk, c.h, c.d}, DType::kF64, seed++, -2, 2);
    Tensor v = test::random_tensor({c.b, c.sk, c.h, c.d}, DType::kF64, seed++);
    Tensor mask = c.masked ? make_mask(c.b, c.sk, seed++) : Tensor();
    Outputs got = run_forward(q, k, v, mask, c.causal);
    Tensor ref_out, ref_lse;
    reference<double>(q, k, v, mask, c.causal, ref_out, ref_lse);
    EXPECT_LE(test::max_abs_diff(got.out, ref_out), 1e-12);
    EXPECT_LE(lse_diff(got.lse, ref_lse), 1e-12);
  }
}

TEST(Attention, F32MatchesF64WithinF32ReferenceError) {
  uint64_t seed = 100;
  for (const Case& c : kCases) {
    SCOPED_TRACE(testing::Message() << "B=" << c.b << " Sq=" << c.sq << " Sk=" << c.sk << " D=" << c.d);
    Tensor q = test::random_tensor({c.b, c.sq, c.h, c.d}, DType::kF32, seed++, -2, 2);
    Tensor k = test::random_tensor({c.b, c.sk, c.h, c.d}, DType::kF32, seed++, -2, 2);
    Tensor v = test::random_tensor({c.b, c.sk, c.h, c.d}, DType::kF32, seed++);
    Tensor mask = c.masked ? make_mask(c.b, c.sk, seed++) : Tensor();
    Outputs got = run_forward(q, k, v, mask, c.causal);
    Tensor ref32_out, ref32_lse, ref64_out, ref64_lse;
    reference<float>(q, k, v, mask, c.causal, ref32_out, ref32_lse);
    reference<double>(test::to_dtype(q, DType::kF64), test::to_dtype(k, DType::kF64), test::to_dtype(v, DType::kF64),
                      mask, c.causal, ref64_out, ref64_lse);
    const double eps = 4 * std::numeric_limits<float>::epsilon();
    EXPECT_LE(test::max_abs_diff(got.out, ref64_out), 2 * test::max_abs_diff(ref32_out, ref64_out) + eps);
    EXPECT_LE(lse_diff(got.lse, ref64_lse), 2 * lse_diff(ref32_lse, ref64_lse) + eps);
  }
}

TEST(Attention, FullyMaskedRowsAreZero) {
  const int64_t B = 2, S = 6, H = 2, D = 8;
  Tensor q = test::random_tensor({B, S, H, D}, DType::kF64, 7);
  Tensor k = test::random_tensor({B, S, H, D}, DType::kF64, 8);
  Tensor v = test::random_tensor({B, S, H, D}, DType::kF64, 9);
  Tensor mask = Tensor::zeros({B, S}, DType::kU8);
  mask.data<uint8_t>()[0] = 1;  // batch 0 keeps key 0 only; batch 1 has no key
  Outputs r = run_forward(q, k, v, mask, false);
  for (int64_t i = 0; i < S * H * D; ++i) EXPECT_EQ(r.out.data<double>()[S * H * D + i], 0.0);
  for (int64_t i = 0; i < H * S; ++i) EXPECT_EQ(r.lse.data<double>()[H * S + i], -INFINITY);
  // Batch 0 attends only key 0: out = v[0].
  for (int64_t i = 0; i < S; ++i) {
    for (int64_t x = 0; x < H * D; ++x) EXPECT_DOUBLE_EQ(r.out.data<double>()[i * H * D + x], v.data<double>()[x]);
  }
  Tensor dout = test::random_tensor(q.shape(), DType::kF64, 10);
  Tensor dq = Tensor::empty(q.shape(), DType::kF64), dk = Tensor::empty(k.shape(), DType::kF64);
  Tensor dv = Tensor::empty(v.shape(), DType::kF64);
  dq.poison();
  dk.poison();
  dv.poison();
  ops::attention_backward(q, k, v, mask, ops::AttentionOptions{}, r.out, r.lse, dout, dq, dk, dv);
  for (int64_t i = 0; i < S * H * D; ++i) {
    EXPECT_EQ(dq.data<double>()[S * H * D + i], 0.0);
    EXPECT_EQ(dk.data<double>()[S * H * D + i], 0.0);
    EXPECT_EQ(dv.data<double>()[S * H * D + i], 0.0);
  }
  for (int64_t i = H * D; i < S * H * D; ++i) EXPECT_EQ(dk.data<double>()[i], 0.0);  // masked keys of batch 0
}

TEST(Attention, CausalIsTopLeftAligned) {
  // Sq > Sk and Sq < Sk: query i attends keys j <= i with no offset.
  for (int64_t sk : {3, 9}) {
    const int64_t B = 1, Sq = 6, H = 1, D = 8;
    Tensor q = test::random_tensor({B, Sq, H, D}, DType::kF64, 11);
    Tensor k = test::random_tensor({B, sk, H, D}, DType::kF64, 12);
    Tensor v = test::random_tensor({B, sk, H, D}, DType::kF64, 13);
    Outputs r = run_forward(q, k, v, Tensor(), true);
    for (int64_t d = 0; d < D; ++d) EXPECT_DOUBLE_EQ(r.out.data<double>()[d], v.data<double>()[d]);  // row 0: key 0
    Tensor ref_out, ref_lse;
    reference<double>(q, k, v, Tensor(), true, ref_out, ref_lse);
    EXPECT_LE(test::max_abs_diff(r.out, ref_out), 1e-12);
  }
}

// Splits qkv [B,S,3,H,D] into contiguous q, k, v [B,S,H,D].
std::vector<Tensor> unpack(const Tensor& qkv) {
  const int64_t B = qkv.size(0), S = qkv.size(1), H = qkv.size(3), D = qkv.size(4);
  std::vector<Tensor> r;
  for (int64_t t = 0; t < 3; ++t) {
    Tensor x = Tensor::empty({B, S, H, D}, qkv.dtype());
    for (int64_t bs = 0; bs < B * S; ++bs) {
      for (int64_t e = 0; e < H * D; ++e) x.data<float>()[bs * H * D + e] = qkv.data<float>()[(bs * 3 + t) * H * D + e];
    }
    r.push_back(x);
  }
  return r;
}

TEST(Attention, PackedMatchesUnpacked) {
  const int64_t B = 3, S = 23, H = 4, D = 16;
  for (bool causal : {false, true}) {
    Tensor qkv = test::random_tensor({B, S, 3, H, D}, DType::kF32, 20, -2, 2);
    Tensor mask = make_mask(B, S, 21);
    ops::AttentionOptions opt;
    opt.causal = causal;
    Tensor out = Tensor::empty({B, S, H, D}), lse = Tensor::empty({B, H, S});
    out.poison();
    lse.poison();
    ops::attention_qkvpacked_forward(qkv, mask, opt, out, lse);
    std::vector<Tensor> u = unpack(qkv);
    Outputs r = run_forward(u[0], u[1], u[2], mask, causal);
    EXPECT_EQ(test::max_abs_diff(out, r.out), 0.0);
    EXPECT_EQ(lse_diff(lse, r.lse), 0.0);

    Tensor dout = test::random_tensor(out.shape(), DType::kF32, 22);
    Tensor dqkv = Tensor::empty(qkv.shape());
    dqkv.poison();
    ops::attention_qkvpacked_backward(qkv, mask, opt, out, lse, dout, dqkv);
    std::vector<Tensor> g(3);
    for (auto& t : g) {
      t = Tensor::empty(u[0].shape());
      t.poison();
    }
    ops::attention_backward(u[0], u[1], u[2], mask, opt, r.out, r.lse, dout, g[0], g[1], g[2]);
    std::vector<Tensor> dg = unpack(dqkv);
    for (int t = 0; t < 3; ++t) EXPECT_EQ(test::max_abs_diff(dg[t], g[t]), 0.0) << "part " << t;
  }
}

TEST(Attention, BackwardMatchesFiniteDifferences) {
  const std::vector<Case> cases = {{2, 5, 6, 2, 8, false, true},
                                   {2, 7, 7, 1, 16, true, false},
                                   {1, 6, 4, 2, 8, true, true},
                                   {2, 9, 9, 2, 8, false, false}};
  uint64_t seed = 40;
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "Sq=" << c.sq << " Sk=" << c.sk << " causal=" << c.causal);
    Tensor q = test::random_tensor({c.b, c.sq, c.h, c.d}, DType::kF64, seed++);
    Tensor k = test::random_tensor({c.b, c.sk, c.h, c.d}, DType::kF64, seed++);
    Tensor v = test::random_tensor({c.b, c.sk, c.h, c.d}, DType::kF64, seed++);
    Tensor w = test::random_tensor(q.shape(), DType::kF64, seed++);
    Tensor mask = c.masked ? make_mask(c.b, c.sk, seed++) : Tensor();
    ops::AttentionOptions opt;
    opt.causal = c.causal;
    opt.scale = 0.3;
    Tensor out = Tensor::empty(q.shape(), DType::kF64), lse = Tensor::empty({c.b, c.h, c.sq}, DType::kF64);
    auto loss = [&] {
      ops::attention_forward(q, k, v, mask, opt, out, lse);
      return test::weighted_sum(out, w);
    };
    Tensor nq = test::numerical_gradient(loss, q), nk = test::numerical_gradient(loss, k);
    Tensor nv = test::numerical_gradient(loss, v);
    loss();
    Tensor dq = Tensor::empty(q.shape(), DType::kF64), dk = Tensor::empty(k.shape(), DType::kF64);
    Tensor dv = Tensor::empty(v.shape(), DType::kF64);
    dq.poison();
    dk.poison();
    dv.poison();
    ops::attention_backward(q, k, v, mask, opt, out, lse, w, dq, dk, dv);
    EXPECT_LE(test::max_abs_diff(dq, nq), 1e-7);
    EXPECT_LE(test::max_abs_diff(dk, nk), 1e-7);
    EXPECT_LE(test::max_abs_diff(dv, nv), 1e-7);
  }
}

TEST(Attention, IndependentOfThreadCount) {
  const int64_t B = 5, S = 50, H = 4, D = 16;
  Tensor qkv = test::random_tensor({B, S, 3, H, D}, DType::kF32, 60, -2, 2);
  Tensor dout = test::random_tensor({B, S, H, D}, DType::kF32, 61);
  std::vector<Tensor> outs, grads;
  const int saved = omp_get_max_threads();
  for (int threads : {1, 3}) {
    omp_set_num_threads(threads);
    Tensor out = Tensor::empty({B, S, H, D}), lse = Tensor::empty({B, H, S}), dqkv = Tensor::empty(qkv.shape());
    ops::attention_qkvpacked_forward(qkv, Tensor(), ops::AttentionOptions{}, out, lse);
    ops::attention_qkvpacked_backward(qkv, Tensor(), ops::AttentionOptions{}, out, lse, dout, dqkv);
    outs.push_back(out);
    grads.push_back(dqkv);
  }
  omp_set_num_threads(saved);
  EXPECT_EQ(test::max_abs_diff(outs[0], outs[1]), 0.0);
  EXPECT_EQ(test::max_abs_diff(grads[0], grads[1]), 0.0);
}

TEST(Attention, BadShapesThrow) {
  Tensor q = Tensor::zeros({2, 5, 2, 8}), k = Tensor::zeros({2, 6, 2, 8}), v = Tensor::zeros({2, 6, 2, 8});
  Tensor out = Tensor::empty({2, 5, 2, 8}), lse = Tensor::empty({2, 2, 5});
  const ops::AttentionOptions opt;
  EXPECT_NO_THROW(ops::attention_forward(q, k, v, Tensor(), opt, out, lse));
  EXPECT_THROW(ops::attention_forward(q.view({10, 2, 8}), k, v, Tensor(), opt, out, lse), Error);
  EXPECT_THROW(ops::attention_forward(q, Tensor::zeros({2, 6, 2, 4}), v, Tensor(), opt, out, lse), Error);
  EXPECT_THROW(ops::attention_forward(q, k, Tensor::zeros({2, 5, 2, 8}), Tensor(), opt, out, lse), Error);
  Tensor bad_lse = Tensor::empty({2, 5, 2});
  EXPECT_THROW(ops::attention_forward(q, k, v, Tensor(), opt, out, bad_lse), Error);
  Tensor f64_out = Tensor::empty({2, 5, 2, 8}, DType::kF64);
  EXPECT_THROW(ops::attention_forward(q, k, v, Tensor(), opt, f64_out, lse), Error);
  EXPECT_THROW(ops::attention_forward(q, k, v, Tensor::zeros({2, 6}), opt, out, lse), Error);  // f32 mask
  EXPECT_THROW(ops::attention_forward(q, k, v, Tensor::zeros({2, 5}, DType::kU8), opt, out, lse), Error);
  Tensor qi = Tensor::zeros({2, 5, 2, 8}, DType::kI32);
  EXPECT_THROW(ops::attention_forward(qi, k, v, Tensor(), opt, out, lse), Error);
  Tensor qkv = Tensor::zeros({2, 5, 2, 2, 8}), pout = Tensor::empty({2, 5, 2, 8}), plse = Tensor::empty({2, 2, 5});
  EXPECT_THROW(ops::attention_qkvpacked_forward(qkv, Tensor(), opt, pout, plse), Error);
  Tensor dq = Tensor::empty(q.shape()), dk = Tensor::empty(q.shape()), dv = Tensor::empty(v.shape());
  EXPECT_THROW(ops::attention_backward(q, k, v, Tensor(), opt, out, lse, out, dq, dk, dv), Error);
}

}  // namespace
}  // namespace attncamp
