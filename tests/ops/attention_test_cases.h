// Support shared by the attention tests (CPU reference, CUDA parity, CUDA emulator): ragged cases
// with key masks and their f64 inputs, the CPU reference run through the dispatching API, and
// STYLE's low-precision rule with the extra tolerances the tensor-core kernels need.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "ops/attention.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

namespace attncamp::test::attention {

// Batch rows and heads of every case's inputs.
constexpr int64_t kBatch = 2, kHeads = 2;

// Unit roundoff u of a 16-bit dtype. The tensor-core kernels also round P and dS to the input
// dtype before their products (as FlashAttention does), which ref_lowp (f32 throughout) does not:
// eps = kRoundedOperands * u * max|ref64| covers those two roundings.
inline double unit_roundoff(DType dt) { return dt == DType::kBF16 ? 1.0 / 256 : 1.0 / 2048; }
constexpr double kRoundedOperands = 2;
// Plus an absolute floor for gradients that are exactly 0 in exact arithmetic (a row with one
// attendable key: dS = P (dP - delta) cancels), where the kernels' f32 sums leave about 1e-7.
constexpr double kAbsEps = 1e-5;
// lse is f32 on every CUDA path: eps = kLseTol * (1 + max|lse|) on top of the lowp rule.
constexpr double kLseTol = 1e-5;

// Sq queries and Sk keys per batch row, causal or not, with a key mask or without.
struct Case {
  int64_t sq, sk;
  bool causal, masked;
};

// Key mask [b, sk] (u8, 1 = attend) with about 30% padded keys; the last batch row has every key
// masked and, when b > 1, row 0 keeps key 0 (so causal row 0 is attendable).
inline Tensor make_mask(int64_t b, int64_t sk, uint64_t seed) {
  Tensor m = Tensor::empty({b, sk}, DType::kU8);
  Tensor r = random_tensor({b, sk}, DType::kF64, seed, 0, 1);
  for (int64_t i = 0; i < b * sk; ++i) m.data<uint8_t>()[i] = r.data<double>()[i] < 0.7 ? 1 : 0;
  for (int64_t j = 0; j < sk; ++j) m.data<uint8_t>()[(b - 1) * sk + j] = 0;
  if (b > 1) m.data<uint8_t>()[0] = 1;
  return m;
}

// Inputs: q, k, v [B,S,H,D] or qkv [B,S,3,H,D] (packed), dout [B,Sq,H,D], mask [B,Sk]; host f64
// as make_inputs returns them, or converted by map_inputs (to another dtype, to the GPU).
struct Inputs {
  bool packed = false;
  Tensor q, k, v, qkv, dout, mask;
};

// Random inputs of case `c` with kBatch rows, kHeads heads and head dim `d` (packed needs Sq == Sk);
// q and k in [-2, 2), v and dout in [-1, 1), the mask only when c.masked. Seeds seed .. seed + 4.
inline Inputs make_inputs(const Case& c, int64_t d, bool packed, uint64_t seed) {
  Inputs in;
  in.packed = packed;
  if (packed) {
    in.qkv = random_tensor({kBatch, c.sq, 3, kHeads, d}, DType::kF64, seed, -2, 2);
  } else {
    in.q = random_tensor({kBatch, c.sq, kHeads, d}, DType::kF64, seed, -2, 2);
    in.k = random_tensor({kBatch, c.sk, kHeads, d}, DType::kF64, seed + 1, -2, 2);
    in.v = random_tensor({kBatch, c.sk, kHeads, d}, DType::kF64, seed + 2);
  }
  in.dout = random_tensor({kBatch, c.sq, kHeads, d}, DType::kF64, seed + 3);
  if (c.masked) in.mask = make_mask(kBatch, c.sk, seed + 4);
  return in;
}

// Every input converted by `f` (the mask is kept).
template <typename F>
Inputs map_inputs(const Inputs& in, F f) {
  Inputs r = in;
  for (Tensor* t : {&r.q, &r.k, &r.v, &r.qkv, &r.dout}) {
    if (t->defined()) *t = f(*t);
  }
  return r;
}

// Forward and backward outputs as host f64 (dq, dk, dv are the parts of dqkv when packed).
struct Result {
  Tensor out, lse, dq, dk, dv;
};

// Part `which` (0 q, 1 k, 2 v) of [B,S,3,H,D] (any float dtype, any device) as host f64 [B,S,H,D].
inline Tensor part(const Tensor& qkv, int64_t which) {
  const Tensor x = to_host_f64(qkv);
  const int64_t bs = x.size(0) * x.size(1), hd = x.size(3) * x.size(4);
  Tensor r = Tensor::empty({x.size(0), x.size(1), x.size(3), x.size(4)}, DType::kF64);
  for (int64_t i = 0; i < bs; ++i) {
    for (int64_t e = 0; e < hd; ++e) r.data<double>()[i * hd + e] = x.data<double>()[(i * 3 + which) * hd + e];
  }
  return r;
}

// Runs the forward, then (when `backward`) the backward, of the dispatching API on device `dev`,
// where `in`'s tensors already are (all in dtype `dt`); outputs are poisoned first. lse is f32 on
// CUDA, `dt` on the CPU.
inline Result run_attention(const Inputs& in, const ops::AttentionOptions& opt, Device dev, DType dt,
                            bool backward = true) {
  const Tensor& q_like = in.packed ? in.qkv : in.q;
  const int64_t b = q_like.size(0), s = q_like.size(1);
  const int64_t h = in.packed ? q_like.size(3) : q_like.size(2), d = q_like.shape().back();
  const DType lse_dt = dev.is_cpu() ? dt : DType::kF32;
  Tensor out = Tensor::empty({b, s, h, d}, dt, dev), lse = Tensor::empty({b, h, s}, lse_dt, dev);
  out.poison();
  lse.poison();
  Result r;
  if (in.packed) {
    ops::attention_qkvpacked_forward(in.qkv, in.mask, opt, out, lse);
    if (backward) {
      Tensor dqkv = Tensor::empty(in.qkv.shape(), dt, dev);
      dqkv.poison();
      ops::attention_qkvpacked_backward(in.qkv, in.mask, opt, out, lse, in.dout, dqkv);
      r.dq = part(dqkv, 0);
      r.dk = part(dqkv, 1);
      r.dv = part(dqkv, 2);
    }
  } else {
    ops::attention_forward(in.q, in.k, in.v, in.mask, opt, out, lse);
    if (backward) {
      Tensor dq = Tensor::empty(in.q.shape(), dt, dev), dk = Tensor::empty(in.k.shape(), dt, dev);
      Tensor dv = Tensor::empty(in.v.shape(), dt, dev);
      dq.poison();
      dk.poison();
      dv.poison();
      ops::attention_backward(in.q, in.k, in.v, in.mask, opt, out, lse, in.dout, dq, dk, dv);
      r.dq = to_host_f64(dq);
      r.dk = to_host_f64(dk);
      r.dv = to_host_f64(dv);
    }
  }
  r.out = to_host_f64(out);
  r.lse = to_host_f64(lse);
  return r;
}

// The CPU reference in `dt` (f32 or f64) on host inputs `in` (converted to `dt` first).
inline Result run_cpu(const Inputs& in, bool causal, DType dt, bool backward = true) {
  ops::AttentionOptions opt;
  opt.causal = causal;
  return run_attention(map_inputs(in, [&](const Tensor& t) { return to_dtype(t, dt); }), opt, Device::cpu(), dt,
                       backward);
}

// Largest |a - b| of two CPU lse tensors (f32 or f64); -inf (a row without keys) must match exactly.
inline double lse_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.dtype() == DType::kF32 ? a.data<float>()[i] : a.data<double>()[i];
    const double y = b.dtype() == DType::kF32 ? b.data<float>()[i] : b.data<double>()[i];
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return INFINITY;
      continue;
    }
    if (std::isnan(x - y)) return INFINITY;
    m = std::max(m, std::fabs(x - y));
  }
  return m;
}

// What expect_lowp_match compares: the forward's out and lse, the backward's dq, dk and dv, or both.
enum class Compared { kForward, kBackward, kBoth };

// Expects `got`, a bf16 or f16 kernel's outputs for `in` (host f64), within STYLE's rule
// max|got - ref64| <= 2 max|ref32 - ref64| + eps, where ref64 and ref32 are the CPU reference in
// f64 and f32 on the inputs rounded through `dt` (ref32's outputs rounded through `dt` too), and
// eps = kRoundedOperands u max|ref64| + kAbsEps; lse (f32 on the kernels) with
// eps = kLseTol (1 + max|lse64|) instead.
inline void expect_lowp_match(const Inputs& in, bool causal, DType dt, const Result& got, Compared what) {
  const bool forward = what != Compared::kBackward, backward = what != Compared::kForward;
  const Inputs rounded = map_inputs(in, [&](const Tensor& t) { return round_through(t, dt); });
  const Result ref64 = run_cpu(rounded, causal, DType::kF64, backward);
  const Result ref32 = run_cpu(rounded, causal, DType::kF32, backward);
  std::vector<std::pair<const char*, std::vector<const Tensor*>>> outs;
  if (forward) outs.push_back({"out", {&got.out, &ref64.out, &ref32.out}});
  if (backward) {
    outs.push_back({"dq", {&got.dq, &ref64.dq, &ref32.dq}});
    outs.push_back({"dk", {&got.dk, &ref64.dk, &ref32.dk}});
    outs.push_back({"dv", {&got.dv, &ref64.dv, &ref32.dv}});
  }
  for (const auto& [name, t] : outs) {
    const double tol = lowp_tolerance(*t[1], round_through(*t[2], dt),
                                      kRoundedOperands * unit_roundoff(dt) * max_abs(*t[1]) + kAbsEps);
    EXPECT_LE(max_abs_diff(*t[0], *t[1]), tol) << name;
  }
  if (forward) {
    const double lse_tol = 2 * lse_diff(ref32.lse, ref64.lse) + kLseTol * (1 + max_abs(ref64.lse));
    EXPECT_LE(lse_diff(got.lse, ref64.lse), lse_tol) << "lse";
  }
}

}  // namespace attncamp::test::attention
