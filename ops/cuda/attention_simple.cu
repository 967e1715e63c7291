// Launchers of the simple (f32 FMA) attention kernels for f32, bf16 and f16 activations, and of
// the delta pre-kernel both kernel families' backward passes use. Kernels:
// ops/cuda/attention_simple.cuh.
#include "ops/cuda/attention_launch.cuh"
#include "ops/cuda/attention_simple.cuh"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda::attn {
namespace {

template <typename T>
void forward_t(const AttentionArgs& a, cudaStream_t stream) {
  const int d = static_cast<int>(a.head_dim);
  const size_t smem = simple_forward_smem(d);
  allow_smem(simple_forward_kernel<T>, smem);
  simple_forward_kernel<T><<<attention_grid(a.seq_q, kSimpleRows, a), kSimpleThreads, smem, stream>>>(a);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

template <typename T>
void backward_t(const AttentionArgs& a, cudaStream_t stream) {
  const int d = static_cast<int>(a.head_dim);
  if (a.seq_k > 0) {
    const size_t smem = simple_dkdv_smem(d);
    allow_smem(simple_dkdv_kernel<T>, smem);
    simple_dkdv_kernel<T><<<attention_grid(a.seq_k, kSimpleRows, a), kSimpleThreads, smem, stream>>>(a);
    ATTNCAMP_CUDA_LAUNCH_CHECK();
  }
  if (a.seq_q > 0) {
    const size_t smem = simple_dq_smem(d);
    allow_smem(simple_dq_kernel<T>, smem);
    simple_dq_kernel<T><<<attention_grid(a.seq_q, kSimpleRows, a), kSimpleThreads, smem, stream>>>(a);
    ATTNCAMP_CUDA_LAUNCH_CHECK();
  }
}

template <typename T>
void delta_t(const AttentionArgs& a, cudaStream_t stream) {
  constexpr int kThreads = 256;  // 8 rows (warps) per block and grid-stride step
  const int64_t rows = a.batch * a.seq_q * a.heads;
  if (sizeof(T) == 2 && a.impl == AttentionImpl::kMma) {  // aligned rows, head_dim in {32, 64, 128}
    const int64_t threads = rows * (a.head_dim / 8);
    attention_delta_vec_kernel<T>
        <<<static_cast<unsigned>((threads + kThreads - 1) / kThreads), kThreads, 0, stream>>>(a);
    ATTNCAMP_CUDA_LAUNCH_CHECK();
    return;
  }
  attention_delta_kernel<T><<<attncamp::cuda::grid_1d(rows * 32, kThreads), kThreads, 0, stream>>>(a);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

template <template <typename> class Fn>
void by_dtype(const AttentionArgs& a, cudaStream_t stream) {
  switch (a.dtype) {
    case DType::kF32: Fn<float>::run(a, stream); break;
    case DType::kBF16: Fn<__nv_bfloat16>::run(a, stream); break;
    case DType::kF16: Fn<__half>::run(a, stream); break;
    default: ATTNCAMP_THROW("CUDA attention needs f32, bf16 or f16, got ", dtype_name(a.dtype));
  }
}

template <typename T>
struct Forward {
  static void run(const AttentionArgs& a, cudaStream_t s) { forward_t<T>(a, s); }
};
template <typename T>
struct Backward {
  static void run(const AttentionArgs& a, cudaStream_t s) { backward_t<T>(a, s); }
};
template <typename T>
struct Delta {
  static void run(const AttentionArgs& a, cudaStream_t s) { delta_t<T>(a, s); }
};

}  // namespace

void launch_delta(const AttentionArgs& a, cudaStream_t stream) {
  if (a.batch * a.seq_q * a.heads > 0) by_dtype<Delta>(a, stream);
}
void simple_forward(const AttentionArgs& a, cudaStream_t stream) { by_dtype<Forward>(a, stream); }
void simple_backward(const AttentionArgs& a, cudaStream_t stream) { by_dtype<Backward>(a, stream); }

}  // namespace attncamp::ops::cuda::attn
