// Autotuning of the tensor-core attention kernels' tile shapes, part of the tuning lab
// ($ATTNCAMP_ATTENTION_AUTOTUNE=1; ops/attention_lab.h): the first call of a problem class times
// every variant with CUDA events on the caller's stream and buffers, and the class keeps the
// fastest for the rest of the process. A variant is a candidate only if its outputs agree with the
// first variant's (the shape shipped on every device) on the call's own inputs: a tile shape that
// computes something else on this device (a kernel that is wrong only on some hardware) is
// reported and never chosen.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "ops/attention_lab.h"
#include "ops/cuda/attention_agreement.cuh"
#include "ops/cuda/attention_launch.cuh"
#include "runtime/error.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace attncamp::ops {
namespace {

constexpr int kTimedRuns = 3;
// A variant agrees with the reference when max |out - ref| <= kAgreement * max |ref| for each of
// its outputs. Variants differ only in summation order (and, for the atomic dQ, in the order of
// the atomics), a few units in the last place of the 16-bit outputs (2^-8 for bf16); a kernel
// that reads a layout wrong, races or skips a tile is off by the size of the values.
constexpr double kAgreement = 1.0 / 16;

// Smallest power of 2 >= n (n >= 1).
int64_t pow2_ceil(int64_t n) {
  int64_t p = 1;
  while (p < n) p *= 2;
  return p;
}

// A problem class: pass, device, dtype, head dim, causal, key mask, B*H, Sq, Sk (rounded up).
using Key = std::tuple<int, int, int, int64_t, bool, bool, int64_t, int64_t, int64_t>;

struct Cache {
  std::mutex mutex;
  std::map<Key, int> choices;        // the chosen variant's index
  std::vector<std::string> reports;  // in the order the classes were tuned
};

Cache& cache() {
  static Cache c;
  return c;
}

Key key_of(AttentionPass pass, const cuda::AttentionArgs& a) {
  return {static_cast<int>(pass),
          a.device,
          static_cast<int>(a.dtype),
          a.head_dim,
          a.causal,
          a.key_valid != nullptr,
          pow2_ceil(std::max<int64_t>(1, a.batch * a.heads)),
          pow2_ceil(std::max<int64_t>(1, a.seq_q)),
          pow2_ceil(std::max<int64_t>(1, a.seq_k))};
}

// Mean ms of kTimedRuns launches of `v` after one untimed one; infinity when it fails to launch.
float time_variant(const cuda::attn::MmaVariant& v, const cuda::AttentionArgs& a, cudaStream_t stream, Event& start,
                   Event& stop) {
  try {
    v.launch(a, stream);
    start.record_current();
    for (int r = 0; r < kTimedRuns; ++r) v.launch(a, stream);
    stop.record_current();
    stop.synchronize();
    return stop.elapsed_ms_since(start) / kTimedRuns;
  } catch (const Error&) {  // e.g. more shared memory than this device allows: not a candidate here
    return std::numeric_limits<float>::infinity();
  }
}

// out and lse of the forward, or dq, dk and dv of the backward.
using cuda::attn::AgreementView;

std::vector<AgreementView> outputs_of(AttentionPass pass, const cuda::AttentionArgs& a) {
  auto seq = [&](void* p, int64_t s, const cuda::SeqStrides& st) {
    return AgreementView{p, a.dtype, {a.batch, s, a.heads, a.head_dim}, {st.batch, st.seq, st.head}};
  };
  if (pass == AttentionPass::kForward) {
    return {seq(a.out, a.seq_q, a.out_stride),
            AgreementView{a.lse, DType::kF32, {a.batch, a.heads, a.seq_q, 1}, {a.heads * a.seq_q, a.seq_q, 1}}};
  }
  return {seq(a.dq, a.seq_q, a.q_stride), seq(a.dk, a.seq_k, a.k_stride), seq(a.dv, a.seq_k, a.v_stride)};
}

// The reference outputs (the first variant that ran) and the comparison of a later variant's.
class Agreement {
 public:
  Agreement(AttentionPass pass, const cuda::AttentionArgs& a, cudaStream_t stream)
      : views_(outputs_of(pass, a)), stream_(stream), device_(a.device) {}

  // Keeps the outputs the caller's buffers hold now. False (and the tuning goes on unchecked) when
  // the device has no memory for the copy.
  bool keep() {
    try {
      stats_ = Tensor::empty({2}, DType::kI32, Device::cuda(device_));
      for (const AgreementView& v : views_) refs_.push_back(Tensor::empty({v.elems()}, v.dtype, Device::cuda(device_)));
    } catch (const Error&) {
      refs_.clear();
      return false;
    }
    for (size_t i = 0; i < views_.size(); ++i) run(i, true);
    return true;
  }
  bool kept() const { return !refs_.empty(); }

  // Largest max |out - ref| / max |ref| over the outputs the caller's buffers hold now.
  double disagreement() {
    double worst = 0;
    for (size_t i = 0; i < views_.size(); ++i) {
      ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(stats_.raw_data(), 0, 2 * sizeof(unsigned), stream_));
      run(i, false);
      unsigned bits[2];
      ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(bits, stats_.raw_data(), sizeof(bits), cudaMemcpyDeviceToHost, stream_));
      ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(stream_));
      float max_ref = 0, max_diff = 0;
      std::memcpy(&max_ref, &bits[0], sizeof(float));
      std::memcpy(&max_diff, &bits[1], sizeof(float));
      const double rel = max_diff == 0 ? 0.0 : max_diff / std::max(static_cast<double>(max_ref), 1e-30);
      worst = std::max(worst, rel);
    }
    return worst;
  }

 private:
  void run(size_t i, bool store) {
    const AgreementView& v = views_[i];
    if (v.elems() == 0) return;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((v.elems() + 255) / 256, 1024));
    auto launch = [&](auto tag) {
      using T = decltype(tag);
      cuda::attn::agreement_kernel<T><<<blocks, 256, 0, stream_>>>(static_cast<const T*>(v.data), v,
                                                                   static_cast<T*>(refs_[i].raw_data()), store,
                                                                   static_cast<unsigned*>(stats_.raw_data()));
    };
    switch (v.dtype) {
      case DType::kBF16: launch(__nv_bfloat16{}); break;
      case DType::kF16: launch(__half{}); break;
      case DType::kF32: launch(float{}); break;
      default: ATTNCAMP_THROW("attention autotuning: cannot compare ", dtype_name(v.dtype), " outputs");
    }
    ATTNCAMP_CUDA_LAUNCH_CHECK();
  }

  std::vector<AgreementView> views_;
  cudaStream_t stream_;
  int device_;
  Tensor stats_;
  std::vector<Tensor> refs_;
};

std::string describe(AttentionPass pass, const cuda::AttentionArgs& a, const Key& k) {
  return std::string(pass == AttentionPass::kForward ? "forward" : "backward") + " " + dtype_name(a.dtype) + " D" +
         std::to_string(a.head_dim) + (a.causal ? " causal" : "") + (a.key_valid != nullptr ? " masked" : "") +
         " B*H<=" + std::to_string(std::get<6>(k)) + " Sq<=" + std::to_string(std::get<7>(k)) +
         " Sk<=" + std::to_string(std::get<8>(k)) + " (cuda:" + std::to_string(a.device) + ")";
}

}  // namespace

namespace cuda::attn {

int autotuned_variant(AttentionPass pass, const AttentionArgs& a, const std::vector<MmaVariant>& variants,
                      cudaStream_t stream) {
  Cache& c = cache();
  const Key key = key_of(pass, a);
  std::lock_guard<std::mutex> lock(c.mutex);  // one tuning at a time; later calls only look up
  auto it = c.choices.find(key);
  if (it != c.choices.end()) return it->second;
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(stream));
  Event start(a.device), stop(a.device);  // recorded on the current stream, which is `stream`
  Agreement agreement(pass, a, stream);
  bool checked = true;  // false when there was no memory for the reference outputs
  int chosen = 0;
  float best = std::numeric_limits<float>::infinity();
  std::string times;
  for (size_t i = 0; i < variants.size(); ++i) {
    float ms = time_variant(variants[i], a, stream, start, stop);
    char buf[96];
    std::snprintf(buf, sizeof(buf), "%.4f ms", static_cast<double>(ms));
    std::string line = variants[i].name + " " + (ms < std::numeric_limits<float>::infinity() ? buf : "failed");
    if (ms < std::numeric_limits<float>::infinity() && checked) {
      if (!agreement.kept()) {
        checked = agreement.keep();  // the first variant that ran is the reference
      } else if (const double off = agreement.disagreement(); !(off <= kAgreement)) {
        std::snprintf(buf, sizeof(buf), " disagrees (max |diff| %.3g of max |reference|), not a candidate", off);
        line += buf;
        ms = std::numeric_limits<float>::infinity();
      }
    }
    times += (i == 0 ? "" : ", ") + line;
    if (ms < best) {
      best = ms;
      chosen = static_cast<int>(i);
    }
  }
  if (!checked) times += " (outputs not compared: no device memory for the reference)";
  ATTNCAMP_CHECK(best < std::numeric_limits<float>::infinity(), "attention autotuning: no tile shape of the ",
                 describe(pass, a, key), " ran");
  c.reports.push_back(describe(pass, a, key) + ": " + variants[static_cast<size_t>(chosen)].name + " of " + times);
  c.choices.emplace(key, chosen);
  return chosen;
}

}  // namespace cuda::attn

std::vector<std::string> attention_autotune_report() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.reports;
}

}  // namespace attncamp::ops
