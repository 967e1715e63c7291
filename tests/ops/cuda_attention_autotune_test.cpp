// The attention autotuner (ops/cuda/attention_autotune.cu) on hand-made variant lists around the
// real default kernels: a variant whose outputs disagree with the default's is reported and never
// chosen, however fast, and a variant that computes the same outputs stays a candidate. CUDA
// builds only (it calls the kernels' host side directly); skips, saying why, without a GPU.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ops/attention.h"
#include "ops/attention_lab.h"
#include "ops/cuda/attention_args.h"
#include "ops/cuda/attention_launch.cuh"
#include "runtime/cuda/launch.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

namespace attn = ops::cuda::attn;
using T = __nv_bfloat16;

constexpr int64_t kB = 1, kH = 1, kS = 40, kD = 64;  // a problem class no other test of this binary tunes
constexpr size_t kRowsBytes = kB * kS * kH * kD * sizeof(T);

// Inputs, outputs and workspaces of one bf16 problem [kB, kS, kH, kD] (contiguous) on cuda:0.
struct Problem {
  Tensor q, k, v, dout, out, lse, dq, dk, dv, delta, dq_accum;
  ops::cuda::AttentionArgs args;
};

Problem make_problem() {
  Problem p;
  const Shape shape{kB, kS, kH, kD};
  p.q = test::to_gpu(test::random_tensor(shape, DType::kF64, 11, -2, 2), DType::kBF16);
  p.k = test::to_gpu(test::random_tensor(shape, DType::kF64, 12, -2, 2), DType::kBF16);
  p.v = test::to_gpu(test::random_tensor(shape, DType::kF64, 13), DType::kBF16);
  p.dout = test::to_gpu(test::random_tensor(shape, DType::kF64, 14), DType::kBF16);
  for (Tensor* t : {&p.out, &p.dq, &p.dk, &p.dv}) *t = Tensor::empty(shape, DType::kBF16, Device::cuda(0));
  p.lse = Tensor::empty({kB, kH, kS}, DType::kF32, Device::cuda(0));
  p.delta = Tensor::empty({kB, kH, kS}, DType::kF32, Device::cuda(0));
  p.dq_accum = Tensor::empty({kB, kH, kS, kD}, DType::kF32, Device::cuda(0));
  ops::cuda::AttentionArgs& a = p.args;
  a.batch = kB;
  a.seq_q = a.seq_k = kS;
  a.heads = kH;
  a.head_dim = kD;
  a.dtype = DType::kBF16;
  a.scale = 0.125f;
  a.impl = ops::AttentionImpl::kMma;
  a.autotune = true;
  a.q = p.q.raw_data();
  a.k = p.k.raw_data();
  a.v = p.v.raw_data();
  a.dout = p.dout.raw_data();
  a.out = p.out.raw_data();
  a.lse = p.lse.data<float>();
  a.dq = p.dq.raw_data();
  a.dk = p.dk.raw_data();
  a.dv = p.dv.raw_data();
  a.delta = p.delta.data<float>();
  a.dq_accum = p.dq_accum.data<float>();
  a.q_stride = a.k_stride = a.v_stride = a.out_stride = {kS * kH * kD, kH * kD, kD};
  return p;
}

const attn::MmaVariant& default_forward() { return attn::mma_forward_variants<T>(kD)[0]; }
const attn::MmaVariant& default_backward() { return attn::mma_backward_variants<T>(kD)[0]; }

// Hand-made variants: faster than any kernel but wrong (a memset), or right but slower.
void zero_out(const ops::cuda::AttentionArgs& a, cudaStream_t s) {
  ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(a.out, 0, kRowsBytes, s));
}
void default_twice_forward(const ops::cuda::AttentionArgs& a, cudaStream_t s) {
  default_forward().launch(a, s);
  default_forward().launch(a, s);
}
void zero_dk(const ops::cuda::AttentionArgs& a, cudaStream_t s) {
  ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(a.dk, 0, kRowsBytes, s));
}
void default_then_zero_half_dv(const ops::cuda::AttentionArgs& a, cudaStream_t s) {
  default_backward().launch(a, s);
  ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(static_cast<char*>(a.dv) + kRowsBytes / 2, 0, kRowsBytes / 2, s));
}

// The report line of the class this test tunes for `pass`.
std::string report_line(const std::string& pass) {
  for (const std::string& line : ops::attention_autotune_report()) {
    if (line.rfind(pass + " bf16 D64 B*H<=1 Sq<=64 Sk<=64", 0) == 0) return line;
  }
  return "";
}

// The report's entry for the variant named `name` (up to the next ", " or the end).
std::string entry(const std::string& line, const std::string& name) {
  const size_t at = line.find(name + " ");
  if (at == std::string::npos) return "";
  const size_t end = line.find(", ", at);
  return line.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

TEST(CudaAttentionAutotune, VariantsThatDisagreeWithTheDefaultAreNeverChosen) {
  ATTNCAMP_REQUIRE_GPU();
  Problem p = make_problem();
  cudaStream_t stream = cuda::launch_stream(0);

  const std::vector<attn::MmaVariant> forward = {
      default_forward(), {"zeroes-out", zero_out}, {"default-twice", default_twice_forward}};
  EXPECT_EQ(attn::autotuned_variant(ops::AttentionPass::kForward, p.args, forward, stream), 0);
  const std::string fwd = report_line("forward");
  ASSERT_FALSE(fwd.empty()) << testing::PrintToString(ops::attention_autotune_report());
  EXPECT_NE(entry(fwd, "zeroes-out").find("disagrees"), std::string::npos) << fwd;
  EXPECT_EQ(entry(fwd, "default-twice").find("disagrees"), std::string::npos) << fwd;
  EXPECT_EQ(fwd.find("not compared"), std::string::npos) << fwd;

  // The backward reads out and lse of the default forward, and delta (ops::cuda::attention_backward's order).
  default_forward().launch(p.args, stream);
  attn::launch_delta(p.args, stream);
  const std::vector<attn::MmaVariant> backward = {
      default_backward(), {"zeroes-dk", zero_dk}, {"zeroes-half-dv", default_then_zero_half_dv}};
  EXPECT_EQ(attn::autotuned_variant(ops::AttentionPass::kBackward, p.args, backward, stream), 0);
  const std::string bwd = report_line("backward");
  ASSERT_FALSE(bwd.empty()) << testing::PrintToString(ops::attention_autotune_report());
  EXPECT_NE(entry(bwd, "zeroes-dk").find("disagrees"), std::string::npos) << bwd;
  EXPECT_NE(entry(bwd, "zeroes-half-dv").find("disagrees"), std::string::npos) << bwd;

  // The choice is remembered for the class: no second tuning, no second report line.
  const size_t lines = ops::attention_autotune_report().size();
  EXPECT_EQ(attn::autotuned_variant(ops::AttentionPass::kForward, p.args, forward, stream), 0);
  EXPECT_EQ(ops::attention_autotune_report().size(), lines);
}

}  // namespace
}  // namespace attncamp
