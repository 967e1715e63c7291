// GradientReducer: bucket assignment, in-order bucket launches and the end-of-backward wait.
#include "runtime/ddp.h"

#include <chrono>

namespace attncamp {

void broadcast_parameters(Communicator& comm, Tensor& values, int root) {
  if (comm.size() > 1) comm.broadcast(values, root)->wait();
}

GradientReducer::GradientReducer(Communicator& comm, Tensor grads, std::vector<ParamRange> params, double bucket_mb)
    : comm_(comm), grads_(std::move(grads)), params_(std::move(params)) {
  ATTNCAMP_CHECK(grads_.is_contiguous() && grads_.dim() == 1, "GradientReducer: gradients must be a flat buffer");
  int64_t expect = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    ATTNCAMP_CHECK(params_[i].offset == expect && params_[i].numel >= 0, "GradientReducer: parameter ", i,
                   " does not follow the previous one in the flat buffer");
    expect += params_[i].numel;
  }
  ATTNCAMP_CHECK(expect == grads_.numel(), "GradientReducer: parameters cover ", expect, " of ", grads_.numel(),
                 " gradient elements");
  const double cap = bucket_mb > 0 ? bucket_mb * 1024 * 1024 : 1e300;
  const double elem = static_cast<double>(dtype_size(grads_.dtype()));
  bucket_of_.assign(params_.size(), 0);
  for (int i = static_cast<int>(params_.size()) - 1; i >= 0; --i) {
    const ParamRange& p = params_[i];
    if (buckets_.empty() || static_cast<double>(buckets_.back().end - buckets_.back().begin) * elem >= cap) {
      buckets_.push_back(Bucket{p.offset, p.offset + p.numel, 0, 0, nullptr});
    }
    Bucket& b = buckets_.back();
    b.begin = p.offset;
    ++b.params;
    bucket_of_[i] = static_cast<int>(buckets_.size()) - 1;
  }
  for (Bucket& b : buckets_) b.pending = b.params;
  marked_.assign(params_.size(), 0);
}

void GradientReducer::start_ready_buckets() {
  while (next_ < num_buckets() && buckets_[next_].pending == 0) {
    Bucket& b = buckets_[next_++];
    if (b.end > b.begin) {
      Tensor slice = grads_.slice(b.begin, b.end);
      b.work = comm_.all_reduce(slice, ReduceOp::kSum);
    }
  }
  for (int k = 0; k < next_; ++k) {
    if (buckets_[k].work) buckets_[k].work->test();
  }
}

void GradientReducer::mark_ready(int index) {
  if (!enabled_ || comm_.size() == 1) return;
  ATTNCAMP_CHECK(index >= 0 && index < static_cast<int>(params_.size()), "GradientReducer: parameter index ", index,
                 " out of range");
  if (marked_[index]) return;  // every layer writes each gradient once per backward; repeats are ignored
  marked_[index] = 1;
  --buckets_[bucket_of_[index]].pending;
  start_ready_buckets();
}

double GradientReducer::finish() {
  if (!enabled_ || comm_.size() == 1) return 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (Bucket& b : buckets_) b.pending = 0;
  start_ready_buckets();
  for (Bucket& b : buckets_) {
    if (b.work) b.work->wait();
    b.work.reset();
    b.pending = b.params;
  }
  next_ = 0;
  std::fill(marked_.begin(), marked_.end(), 0);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace attncamp
