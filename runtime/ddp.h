// Data-parallel gradient reduction (PyTorch DDP's Reducer, simplified): the flat gradient buffer
// is cut into buckets of about `bucket_mb` MiB in reverse registration order (the order backward
// produces gradients), and each bucket's all-reduce (sum) starts as soon as backward has marked
// all of its parameters ready, overlapping with the rest of backward. Buckets start in the same
// order on every rank (a bucket waits for the ones before it), so collectives always match.
// Works on any Communicator; on the CPU the MPI backend's nonblocking collectives make progress
// whenever mark_ready() runs.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/communicator.h"
#include "runtime/tensor.h"

namespace attncamp {

struct ParamRange {
  int64_t offset = 0;  // in elements of the flat buffer
  int64_t numel = 0;
};

// Broadcasts `values` (the flat parameter buffer) from `root` so every rank starts identical.
void broadcast_parameters(Communicator& comm, Tensor& values, int root = 0);

class GradientReducer {
 public:
  // grads: the flat gradient buffer (contiguous); params: each parameter's range, in
  // registration order, tiling [0, grads.numel()). bucket_mb <= 0 means one bucket.
  GradientReducer(Communicator& comm, Tensor grads, std::vector<ParamRange> params, double bucket_mb = 25);

  // Off: mark_ready()/finish() do nothing (gradient accumulation micro-batches that must not
  // communicate). The caller turns it on for the last micro-batch.
  void set_enabled(bool on) { enabled_ = on; }
  bool enabled() const { return enabled_; }

  // Parameter `index`'s gradient is final for this step; starts every bucket that is now
  // complete (in bucket order) and progresses those in flight.
  void mark_ready(int index);
  // Starts the buckets not started yet and waits for all: grads then hold the sum over ranks.
  // Resets the per-step state. Returns the seconds spent waiting here (communication that
  // backward did not hide).
  double finish();

  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  // Bucket b's element range [begin, end) in the flat buffer (bucket 0 holds the last parameters).
  std::pair<int64_t, int64_t> bucket_range(int b) const { return {buckets_[b].begin, buckets_[b].end}; }

 private:
  struct Bucket {
    int64_t begin = 0, end = 0;
    int params = 0;   // parameters in the bucket
    int pending = 0;  // not yet marked this step
    WorkPtr work;
  };
  void start_ready_buckets();

  Communicator& comm_;
  Tensor grads_;
  std::vector<ParamRange> params_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;  // parameter index -> bucket
  std::vector<char> marked_;
  int next_ = 0;  // first bucket not started this step
  bool enabled_ = true;
};

}  // namespace attncamp
