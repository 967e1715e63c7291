// CUDA GEMM through cuBLASLt. Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, so
// cuBLASLt gets our B as its first operand and our A as its second, and a row-major [rows, cols]
// matrix is described as column-major [cols, rows] with the same leading dimension. A plan (matmul
// descriptor, layouts, the heuristic's algorithm) is built once per device, shape, strides, dtypes,
// transposes and pointer alignment and cached, so steady-state training queries no heuristics.
// With ATTNCAMP_GEMM_AUTOTUNE=1 a new plan times the heuristic's candidates on its first call's
// operands and keeps the fastest (ops/cuda/lt_autotune.h).
// Problems cuBLASLt has no algorithm for (and K == 0) run on the naive kernel below.
#include <cublasLt.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>

#include "ops/cuda/lt_autotune.h"
#include "ops/cuda/lt_matmul.h"
#include "runtime/cuda/blas.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

// ---- naive kernel: one thread per element of C, f32 sum over K in order ----

template <class TA, class TC>
struct NaiveArgs {
  int64_t m, n, k, batch;
  bool trans_a, trans_b;
  const TA* a;
  int64_t lda, stride_a;
  const TA* b;
  int64_t ldb, stride_b;
  TC* c;
  int64_t ldc, stride_c;
  float alpha, beta;
  const TC* bias;  // n elements or nullptr
};

template <class TA, class TC>
__global__ void gemm_naive_kernel(NaiveArgs<TA, TC> p) {
  const int64_t total = p.batch * p.m * p.n;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = i % p.n;
    const int64_t r = (i / p.n) % p.m;
    const int64_t e = i / (p.n * p.m);
    const TA* a = p.a + e * p.stride_a;
    const TA* b = p.b + e * p.stride_b;
    float acc = 0.0f;
    for (int64_t l = 0; l < p.k; ++l) {
      const float av = to_f32(p.trans_a ? a[l * p.lda + r] : a[r * p.lda + l]);
      const float bv = to_f32(p.trans_b ? b[j * p.ldb + l] : b[l * p.ldb + j]);
      acc = fmaf(av, bv, acc);
    }
    TC* c = p.c + e * p.stride_c + r * p.ldc + j;
    float out = p.alpha * acc;
    if (p.beta != 0.0f) out += p.beta * to_f32(*c);  // beta == 0: C is not read
    if (p.bias != nullptr) out += to_f32(p.bias[j]);
    *c = from_f32<TC>(out);
  }
}

template <class TA, class TC>
void launch_naive(const GemmCudaParams& p, const void* bias, cudaStream_t stream) {
  NaiveArgs<TA, TC> a{p.m,
                      p.n,
                      p.k,
                      p.batch,
                      p.trans_a,
                      p.trans_b,
                      static_cast<const TA*>(p.a),
                      p.lda,
                      p.stride_a,
                      static_cast<const TA*>(p.b),
                      p.ldb,
                      p.stride_b,
                      static_cast<TC*>(p.c),
                      p.ldc,
                      p.stride_c,
                      p.alpha,
                      p.beta,
                      static_cast<const TC*>(bias)};
  constexpr int kThreads = 256;
  gemm_naive_kernel<TA, TC><<<attncamp::cuda::grid_1d(p.batch * p.m * p.n, kThreads), kThreads, 0, stream>>>(a);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

void naive(const GemmCudaParams& p, const void* bias, int device) {
  cudaStream_t stream = attncamp::cuda::launch_stream(device);
  const bool f32_out = p.c_dtype == DType::kF32;
  switch (p.ab_dtype) {
    case DType::kF32: launch_naive<float, float>(p, bias, stream); break;
    case DType::kBF16:
      if (f32_out) {
        launch_naive<__nv_bfloat16, float>(p, bias, stream);
      } else {
        launch_naive<__nv_bfloat16, __nv_bfloat16>(p, bias, stream);
      }
      break;
    case DType::kF16:
      if (f32_out) {
        launch_naive<__half, float>(p, bias, stream);
      } else {
        launch_naive<__half, __half>(p, bias, stream);
      }
      break;
    default: ATTNCAMP_THROW("gemm on CUDA: unsupported dtype ", dtype_name(p.ab_dtype));
  }
}

// ---- cuBLASLt plans ----

cudaDataType_t lt_type(DType t) {
  switch (t) {
    case DType::kF32: return CUDA_R_32F;
    case DType::kBF16: return CUDA_R_16BF;
    case DType::kF16: return CUDA_R_16F;
    default: ATTNCAMP_THROW("gemm on CUDA: dtype ", dtype_name(t), " is not supported (f32, bf16 or f16)");
  }
}

// Largest power of two <= 16 dividing the address (and the batch stride in bytes when the matrix
// changes per batch entry): what the heuristic may assume about the matrix's alignment.
uint32_t alignment(const void* p, int64_t stride_bytes = 0) {
  const auto addr = reinterpret_cast<uintptr_t>(p) | static_cast<uintptr_t>(stride_bytes);
  uint32_t a = 16;
  while (a > 1 && addr % a != 0) a /= 2;
  return a;
}

// Owns one cuBLASLt descriptor; destroyed with `Destroy` (errors ignored: destructors never throw).
template <class H, cublasStatus_t (*Destroy)(H)>
class LtObject {
 public:
  LtObject() = default;
  ~LtObject() {
    if (h_ != nullptr) Destroy(h_);
  }
  LtObject(const LtObject&) = delete;
  LtObject& operator=(const LtObject&) = delete;
  LtObject(LtObject&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  LtObject& operator=(LtObject&& o) noexcept {
    std::swap(h_, o.h_);
    return *this;
  }
  H get() const { return h_; }
  H* out() { return &h_; }

 private:
  H h_ = nullptr;
};
using MatmulDesc = LtObject<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using Layout = LtObject<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using Preference = LtObject<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

template <class V>
void set_desc(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, const V& v) {
  ATTNCAMP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, attr, &v, sizeof(v)));
}

// Column-major layout of `rows` x `cols` (ld >= rows), repeated `batch` times `stride` elements apart.
Layout make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  Layout l;
  ATTNCAMP_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(l.out(), type, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld));
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    ATTNCAMP_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(l.get(), CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    ATTNCAMP_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l.get(), CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                           &stride, sizeof(stride)));
  }
  return l;
}

// Everything the algorithm choice depends on.
struct PlanKey {
  int device;
  int64_t m, n, k, batch, lda, ldb, ldc, stride_a, stride_b, stride_c;
  bool trans_a, trans_b, has_bias;
  DType ab, cd;
  uint32_t align_a, align_b, align_c, align_bias;
  auto tie() const {
    return std::tie(device, m, n, k, batch, lda, ldb, ldc, stride_a, stride_b, stride_c, trans_a, trans_b, has_bias, ab,
                    cd, align_a, align_b, align_c, align_bias);
  }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

// lt_a describes our B (cuBLASLt's first operand), lt_b our A, lt_c both C and D. `mu` guards the
// bias pointer in `desc` from being set by one thread while another enqueues with the same plan.
struct Plan {
  MatmulDesc desc;
  Layout lt_a, lt_b, lt_c;
  cublasLtMatmulAlgo_t algo{};
  bool use_naive = false;
  std::mutex mu;
};

PlanKey make_key(const GemmCudaParams& p, const void* bias, int device) {
  const int64_t ab_bytes = static_cast<int64_t>(dtype_size(p.ab_dtype));
  const int64_t c_bytes = static_cast<int64_t>(dtype_size(p.c_dtype));
  const bool many = p.batch > 1;
  return PlanKey{device,
                 p.m,
                 p.n,
                 p.k,
                 p.batch,
                 p.lda,
                 p.ldb,
                 p.ldc,
                 p.stride_a,
                 p.stride_b,
                 p.stride_c,
                 p.trans_a,
                 p.trans_b,
                 bias != nullptr,
                 p.ab_dtype,
                 p.c_dtype,
                 alignment(p.a, many ? p.stride_a * ab_bytes : 0),
                 alignment(p.b, many ? p.stride_b * ab_bytes : 0),
                 alignment(p.c, many ? p.stride_c * c_bytes : 0),
                 bias != nullptr ? alignment(bias) : 0};
}

// cuBLASLt workspace for `stream`: slot 0 for the legacy default stream, one slot per other
// stream, so matmuls on concurrent streams of a device never share a workspace.
void* workspace_for(int device, cudaStream_t stream) {
  static auto* slots = new std::map<std::pair<int, cudaStream_t>, int>();
  static std::mutex mu;
  int slot = 0;
  if (stream != nullptr) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = slots->find({device, stream});
    if (it == slots->end()) {
      const int next = 1 + static_cast<int>(std::count_if(slots->begin(), slots->end(),
                                                          [&](const auto& kv) { return kv.first.first == device; }));
      it = slots->emplace(std::make_pair(device, stream), next).first;
    }
    slot = it->second;
  }
  return attncamp::cuda::cublaslt_workspace(device, slot);
}

// Bytes of C from its first to its last element: rows m of ldc elements (the last row n), batch
// entries stride_c apart.
size_t c_span_bytes(const GemmCudaParams& p) {
  const int64_t elems = (p.batch - 1) * p.stride_c + (p.m - 1) * p.ldc + p.n;
  return static_cast<size_t>(elems) * dtype_size(p.c_dtype);
}

std::unique_ptr<Plan> make_plan(const GemmCudaParams& p, const void* bias, const PlanKey& key,
                                cublasLtHandle_t handle) {
  auto plan = std::make_unique<Plan>();
  const cudaDataType_t ab = lt_type(p.ab_dtype), cd = lt_type(p.c_dtype);
  ATTNCAMP_CUBLAS_CHECK(cublasLtMatmulDescCreate(plan->desc.out(), CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasLtMatmulDesc_t d = plan->desc.get();
  set_desc(d, CUBLASLT_MATMUL_DESC_TRANSA, p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N);
  set_desc(d, CUBLASLT_MATMUL_DESC_TRANSB, p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N);
  if (bias != nullptr) {
    set_desc(d, CUBLASLT_MATMUL_DESC_EPILOGUE, CUBLASLT_EPILOGUE_BIAS);
    set_desc(d, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, static_cast<int32_t>(cd));
    set_desc(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);
  }
  // Stored shapes: our B is [K,N] (or [N,K] when trans_b) row-major, i.e. column-major [N,K] ([K,N]).
  plan->lt_a = make_layout(ab, p.trans_b ? p.k : p.n, p.trans_b ? p.n : p.k, p.ldb, p.batch, p.stride_b);
  plan->lt_b = make_layout(ab, p.trans_a ? p.m : p.k, p.trans_a ? p.k : p.m, p.lda, p.batch, p.stride_a);
  plan->lt_c = make_layout(cd, p.n, p.m, p.ldc, p.batch, p.stride_c);

  Preference pref;
  ATTNCAMP_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(pref.out()));
  const uint64_t ws = attncamp::cuda::kCublasLtWorkspaceBytes;
  ATTNCAMP_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(pref.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_b},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_a},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_c},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_c}};
  for (const auto& [attr, value] : aligns) {
    ATTNCAMP_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.get(), attr, &value, sizeof(value)));
  }
  // Split-K partial sums stay in f32: with a 16-bit C, the INPLACE and OUTPUT_TYPE schemes would
  // round every partial sum to C's type (unsplit algorithms always pass this filter).
  const uint32_t reductions =
      p.c_dtype == DType::kF32 ? CUBLASLT_REDUCTION_SCHEME_MASK : CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  ATTNCAMP_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.get(), CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                             &reductions, sizeof(reductions)));

  cublasLtMatmulHeuristicResult_t results[kAutotuneCandidates] = {};
  const bool autotune = gemm_autotune_enabled();
  int found = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(handle, d, plan->lt_a.get(), plan->lt_b.get(), plan->lt_c.get(), plan->lt_c.get(),
                                     pref.get(), autotune ? kAutotuneCandidates : 1, results, &found);
  if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
    int pick = 0;
    if (autotune && found > 1) {
      LtCall call;  // the first call's operands; the bias pointer is already in d
      call.device = key.device;
      call.handle = handle;
      call.desc = d;
      call.alpha = &p.alpha;
      call.a = p.b;  // cuBLASLt's first operand is our B (see the file comment)
      call.layout_a = plan->lt_a.get();
      call.b = p.a;
      call.layout_b = plan->lt_b.get();
      call.beta = &p.beta;
      call.layout_c = plan->lt_c.get();
      call.c_bytes = c_span_bytes(p);
      call.stream = attncamp::cuda::launch_stream(key.device);
      call.workspace = workspace_for(key.device, call.stream);
      call.workspace_bytes = attncamp::cuda::kCublasLtWorkspaceBytes;
      pick = fastest_algorithm(call, results, found);
    }
    plan->algo = results[pick].algo;
  } else if (st == CUBLAS_STATUS_SUCCESS || st == CUBLAS_STATUS_NOT_SUPPORTED) {
    plan->use_naive = true;
    std::cerr << "attncamp: cuBLASLt has no algorithm for gemm m=" << p.m << " n=" << p.n << " k=" << p.k
              << " batch=" << p.batch << " " << dtype_name(p.ab_dtype) << "->" << dtype_name(p.c_dtype)
              << (bias != nullptr ? " +bias" : "") << " (alignment A " << key.align_a << " B " << key.align_b << " C "
              << key.align_c << " bytes); using the naive CUDA kernel (slow)\n";
  } else {
    ATTNCAMP_CUBLAS_CHECK(st);
  }
  return plan;
}

// The cached plan for `key` (built on first use). Plans live until process exit, like the handles.
Plan& plan_for(const GemmCudaParams& p, const void* bias, const PlanKey& key, cublasLtHandle_t handle) {
  static auto* plans = new std::map<PlanKey, std::unique_ptr<Plan>>();
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto it = plans->find(key);
  if (it == plans->end()) it = plans->emplace(key, make_plan(p, bias, key, handle)).first;
  return *it->second;
}

void check_params(const GemmCudaParams& p, const void* bias) {
  ATTNCAMP_CHECK(p.m >= 0 && p.n >= 0 && p.k >= 0 && p.batch >= 0, "gemm on CUDA: negative size m=", p.m, " n=", p.n,
                 " k=", p.k, " batch=", p.batch);
  ATTNCAMP_CHECK(p.ab_dtype == DType::kF32 || p.ab_dtype == DType::kBF16 || p.ab_dtype == DType::kF16,
                 "gemm on CUDA: A and B are ", dtype_name(p.ab_dtype), "; expected f32, bf16 or f16");
  ATTNCAMP_CHECK(p.c_dtype == p.ab_dtype || p.c_dtype == DType::kF32, "gemm on CUDA: C is ", dtype_name(p.c_dtype),
                 " for ", dtype_name(p.ab_dtype), " operands; expected f32 or the operands' dtype");
  ATTNCAMP_CHECK(p.batch <= INT_MAX, "gemm on CUDA: batch ", p.batch, " exceeds cuBLASLt's 32-bit batch count");
  ATTNCAMP_CHECK(bias == nullptr || p.batch == 1, "gemm on CUDA: a bias needs batch 1, got ", p.batch);
}

}  // namespace

void gemm_bias(const GemmCudaParams& p, const void* bias, int device) {
  check_params(p, bias);
  if (p.m == 0 || p.n == 0 || p.batch == 0) return;
  if (p.k == 0) {
    naive(p, bias, device);
    return;
  }
  cublasLtHandle_t handle = attncamp::cuda::cublaslt_handle(device);
  const PlanKey key = make_key(p, bias, device);
  Plan& plan = plan_for(p, bias, key, handle);
  if (plan.use_naive) {
    naive(p, bias, device);
    return;
  }
  cudaStream_t stream = attncamp::cuda::launch_stream(device);
  void* workspace = workspace_for(device, stream);
  std::lock_guard<std::mutex> lock(plan.mu);
  if (bias != nullptr) set_desc(plan.desc.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);
  ATTNCAMP_CUBLAS_CHECK(cublasLtMatmul(handle, plan.desc.get(), &p.alpha, p.b, plan.lt_a.get(), p.a, plan.lt_b.get(),
                                       &p.beta, p.c, plan.lt_c.get(), p.c, plan.lt_c.get(), &plan.algo, workspace,
                                       attncamp::cuda::kCublasLtWorkspaceBytes, stream));
}

void gemm(const GemmCudaParams& p, int device) { gemm_bias(p, nullptr, device); }

void gemm_naive(const GemmCudaParams& p, int device) {
  check_params(p, nullptr);
  if (p.m == 0 || p.n == 0 || p.batch == 0) return;
  naive(p, nullptr, device);
}

}  // namespace attncamp::ops::cuda
