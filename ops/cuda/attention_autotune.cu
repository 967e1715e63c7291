// Autotuning of the tensor-core attention kernels' tile shapes ($ATTNCAMP_ATTENTION_AUTOTUNE=1;
// ops/attention.h): the first call of a problem class times every variant with CUDA events on the
// caller's stream and buffers, and the class keeps the fastest for the rest of the process.
#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "ops/cuda/attention_launch.cuh"
#include "runtime/error.h"
#include "runtime/stream.h"

namespace attncamp::ops {
namespace {

constexpr int kTimedRuns = 3;

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
  int chosen = 0;
  float best = std::numeric_limits<float>::infinity();
  std::string times;
  for (size_t i = 0; i < variants.size(); ++i) {
    const float ms = time_variant(variants[i], a, stream, start, stop);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.4f ms", static_cast<double>(ms));
    times +=
        (i == 0 ? "" : ", ") + variants[i].name + " " + (ms < std::numeric_limits<float>::infinity() ? buf : "failed");
    if (ms < best) {
      best = ms;
      chosen = static_cast<int>(i);
    }
  }
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
