// Tensor-level attention entry points: check shapes, dtypes and devices for both devices, then run
// the CPU reference (ops/cpu/attention.cpp) or resolve the CUDA kernel family, the tuning lab's
// tile-shape variant (ops/attention_lab.h) and the backward form and send the call to
// ops/cuda/attention*.cu.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "ops/attention.h"
#include "ops/attention_lab.h"
#include "ops/cpu/attention_cpu.h"
#include "ops/cuda/attention_args.h"
#include "ops/dispatch.h"
#include "runtime/env.h"

namespace attncamp::ops {
namespace {

using cpu::AttnDims;

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
}  // namespace attncamp::ops

#ifdef ATTNCAMP_WITH_CUDA
namespace attncamp::ops {
namespace {

cuda::SeqStrides to_cuda(const cpu::SeqStrides& s) { return cuda::SeqStrides{s.batch, s.seq, s.head}; }

// Launch arguments shared by every CUDA call: sizes, options, mask, out and lse.
cuda::AttentionArgs cuda_args(const AttnDims& a, const AttentionOptions& opt, DType dtype, const Tensor& key_valid,
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
void set_unpacked(const AttnDims& a, const Tensor& q, const Tensor& k, const Tensor& v, Tensor* dq, Tensor* dk,
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
void set_packed(const AttnDims& a, const Tensor& qkv, Tensor* dqkv, cuda::AttentionArgs& c) {
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
  const AttentionVariants variants = current_attention_variants();
  const int variant = backward ? variants.backward : variants.forward;
  const char* pass = backward ? "backward" : "forward";
  ATTNCAMP_CHECK(variant >= -1, "attention ", pass, " variant must be -1 (the shipped shape) or a variant index, got ",
                 variant, " (ScopedAttentionVariants)");
  ATTNCAMP_CHECK(variant == -1 || c.impl == AttentionImpl::kMma, "attention ", pass, " variant ", variant,
                 " picks a tensor-core kernel shape, but this call runs the simple kernels");
  ATTNCAMP_CHECK(variant == -1 || !backward || !deterministic, "attention backward variant ", variant,
                 " picks an atomic-dQ backward shape, but the backward is deterministic (one shape)");
  c.forward_variant = variants.forward;
  c.backward_variant = variants.backward;
  // attention_autotune_enabled() less its second read of $ATTNCAMP_DETERMINISTIC (in `deterministic`).
  c.autotune = c.impl == AttentionImpl::kMma && !deterministic && env::flag(env::kAttentionAutotune);
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

void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                       const AttentionOptions& opt, Tensor& out, Tensor& lse) {
  const char* op = "attention_forward";
  const bool cuda = on_cuda(op, {&q, &k, &v, &key_valid, &out, &lse});
  const AttnDims a = check_unpacked(op, q, k, v, key_valid, cuda);
  check_outputs(a, q.dtype(), out, lse, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::AttentionArgs c = cuda_args(a, opt, q.dtype(), key_valid, out, lse);
    set_unpacked(a, q, k, v, nullptr, nullptr, nullptr, c);
    run_cuda(c, opt, false);
#endif
    return;
  }
  cpu::run_unpacked(a, opt, q, k, v, key_valid, out, lse, nullptr, nullptr, nullptr, nullptr);
}

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                        const AttentionOptions& opt, const Tensor& out, const Tensor& lse, const Tensor& dout,
                        Tensor& dq, Tensor& dk, Tensor& dv) {
  const char* op = "attention_backward";
  const bool cuda = on_cuda(op, {&q, &k, &v, &key_valid, &out, &lse, &dout, &dq, &dk, &dv});
  const AttnDims a = check_unpacked(op, q, k, v, key_valid, cuda);
  check_outputs(a, q.dtype(), out, lse, cuda);
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
  cpu::run_unpacked(a, opt, q, k, v, key_valid, out, lse, &dout, &dq, &dk, &dv);
}

void attention_qkvpacked_forward(const Tensor& qkv, const Tensor& key_valid, const AttentionOptions& opt, Tensor& out,
                                 Tensor& lse) {
  const char* op = "attention_qkvpacked_forward";
  const bool cuda = on_cuda(op, {&qkv, &key_valid, &out, &lse});
  const AttnDims a = check_packed(op, qkv, key_valid, cuda);
  check_outputs(a, qkv.dtype(), out, lse, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::AttentionArgs c = cuda_args(a, opt, qkv.dtype(), key_valid, out, lse);
    set_packed(a, qkv, nullptr, c);
    run_cuda(c, opt, false);
#endif
    return;
  }
  cpu::run_packed(a, opt, qkv, key_valid, out, lse, nullptr, nullptr);
}

void attention_qkvpacked_backward(const Tensor& qkv, const Tensor& key_valid, const AttentionOptions& opt,
                                  const Tensor& out, const Tensor& lse, const Tensor& dout, Tensor& dqkv) {
  const char* op = "attention_qkvpacked_backward";
  const bool cuda = on_cuda(op, {&qkv, &key_valid, &out, &lse, &dout, &dqkv});
  const AttnDims a = check_packed(op, qkv, key_valid, cuda);
  check_outputs(a, qkv.dtype(), out, lse, cuda);
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
  cpu::run_packed(a, opt, qkv, key_valid, out, lse, &dout, &dqkv);
}

}  // namespace attncamp::ops
