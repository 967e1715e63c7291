// NCCL backend of the Communicator (CUDA tensors, one GPU per rank). MPI bootstraps it: rank 0
// creates the NCCL unique id and broadcasts it, the node-local rank picks the GPU, and an MPI
// communicator beside the NCCL one carries the host-side consistency check, so a desynchronized
// job is named before NCCL could hang on it. Collectives run on a dedicated stream ordered after
// the caller's current stream (an event), and wait() polls their completion event against the
// deadline; a collective past it aborts the NCCL communicator (ncclCommAbort) and the job. The
// variable-size gathers exchange their counts over the MPI communicator, then run as one NCCL
// group: all_gatherv as one broadcast per rank into its slice, gatherv as sends to the root.
// Host tensors (the trainer's per-step report, evaluation sums, metric gathers) go over the MPI
// communicator instead, as PyTorch jobs keep a gloo group beside their NCCL one.
#if defined(ATTNCAMP_WITH_NCCL) && defined(ATTNCAMP_WITH_MPI)
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include "runtime/communicator.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda_context.h"
#include "runtime/stream.h"

#define ATTNCAMP_NCCL_CHECK(call)                                                                                \
  do {                                                                                                           \
    const ncclResult_t attncamp_nr_ = (call);                                                                    \
    if (attncamp_nr_ != ncclSuccess) {                                                                           \
      ATTNCAMP_THROW(#call, " failed: ", ncclGetErrorString(attncamp_nr_), " (", static_cast<int>(attncamp_nr_), \
                     "); rerun with NCCL_DEBUG=INFO for NCCL's own diagnosis");                                  \
    }                                                                                                            \
  } while (0)

namespace attncamp {
namespace {

ncclDataType_t nccl_type(DType d) {
  switch (d) {
    case DType::kF32: return ncclFloat32;
    case DType::kF64: return ncclFloat64;
    case DType::kBF16: return ncclBfloat16;
    case DType::kF16: return ncclFloat16;
    case DType::kI32: return ncclInt32;
    case DType::kI64: return ncclInt64;
    case DType::kU8: return ncclUint8;
  }
  return ncclUint8;
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kAvg: return ncclAvg;
    case ReduceOp::kMax: return ncclMax;
  }
  return ncclSum;
}

// Runs `body` (NCCL calls, returning the first failure) between ncclGroupStart and ncclGroupEnd;
// the group is closed even when a call in it fails.
template <class F>
ncclResult_t in_group(F body) {
  ncclResult_t r = ncclGroupStart();
  if (r != ncclSuccess) return r;
  r = body();
  const ncclResult_t end = ncclGroupEnd();
  return r != ncclSuccess ? r : end;
}

class NcclCommunicator;

class NcclWork : public Work {
 public:
  NcclWork(NcclCommunicator* c, Fingerprint fp, cudaEvent_t done) : comm_(c), fp_(fp), done_(done) {}
  ~NcclWork() override;
  bool test() override;
  void wait() override;

 private:
  NcclCommunicator* comm_;
  Fingerprint fp_;
  cudaEvent_t done_;
  bool complete_ = false;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(int device, const CommOptions& o) : opt_(o) {
    // The MPI communicator runs the consistency checks; NCCL itself gets unchecked ids.
    control_ = make_mpi_communicator(o);
    device_ = device >= 0 ? device : control_->local_rank();
    ATTNCAMP_CUDA_CHECK(cudaSetDevice(device_));
    stream_ = std::make_unique<Stream>(device_);
    Tensor id = Tensor::zeros({static_cast<int64_t>(sizeof(ncclUniqueId))}, DType::kU8);
    if (control_->rank() == 0) {
      ncclUniqueId uid;
      ATTNCAMP_NCCL_CHECK(ncclGetUniqueId(&uid));
      std::memcpy(id.raw_data(), &uid, sizeof(uid));
    }
    control_->broadcast(id, 0)->wait();
    ncclUniqueId uid;
    std::memcpy(&uid, id.raw_data(), sizeof(uid));
    ATTNCAMP_NCCL_CHECK(ncclCommInitRank(&comm_, control_->size(), uid, control_->rank()));
  }
  ~NcclCommunicator() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
  }

  int rank() const override { return control_->rank(); }
  int size() const override { return control_->size(); }
  int local_rank() const override { return control_->local_rank(); }
  std::string backend() const override { return "nccl"; }
  double timeout_s() const { return opt_.timeout_s; }

  WorkPtr all_reduce(Tensor& t, ReduceOp op) override {
    if (t.device().is_cpu()) return control_->all_reduce(t, op);
    const Fingerprint fp = begin(Collective::kAllReduce, op, &t);
    return launch(fp, [&](cudaStream_t s) {
      return ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()),
                           nccl_op(op), comm_, s);
    });
  }
  WorkPtr broadcast(Tensor& t, int root) override {
    if (t.device().is_cpu()) return control_->broadcast(t, root);
    ATTNCAMP_CHECK(root >= 0 && root < size(), "broadcast: root ", root, " out of range for ", size(), " ranks");
    const Fingerprint fp = begin(Collective::kBroadcast, ReduceOp::kSum, &t, root);
    return launch(fp, [&](cudaStream_t s) {
      return ncclBroadcast(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()), root,
                           comm_, s);
    });
  }
  WorkPtr all_gather(const Tensor& in, Tensor& out) override {
    if (in.device().is_cpu() && out.device().is_cpu()) return control_->all_gather(in, out);
    ATTNCAMP_CHECK(out.numel() == in.numel() * size() && out.dtype() == in.dtype() && out.is_contiguous(),
                   "all_gather: output must be contiguous with ", in.numel() * size(), " elements of ",
                   dtype_name(in.dtype()));
    check_device(out);
    const Fingerprint fp = begin(Collective::kAllGather, ReduceOp::kSum, &in);
    return launch(fp, [&](cudaStream_t s) {
      return ncclAllGather(in.raw_data(), out.raw_data(), static_cast<size_t>(in.numel()), nccl_type(in.dtype()), comm_,
                           s);
    });
  }
  WorkPtr reduce_scatter(const Tensor& in, Tensor& out, ReduceOp op) override {
    if (in.device().is_cpu() && out.device().is_cpu()) return control_->reduce_scatter(in, out, op);
    ATTNCAMP_CHECK(in.numel() == out.numel() * size() && out.dtype() == in.dtype() && out.is_contiguous(),
                   "reduce_scatter: input must have ", out.numel() * size(), " elements of ", dtype_name(out.dtype()));
    check_device(out);
    const Fingerprint fp = begin(Collective::kReduceScatter, op, &in);
    return launch(fp, [&](cudaStream_t s) {
      return ncclReduceScatter(in.raw_data(), out.raw_data(), static_cast<size_t>(out.numel()), nccl_type(in.dtype()),
                               nccl_op(op), comm_, s);
    });
  }
  GatherVResult all_gatherv(const Tensor& in) override {
    if (in.device().is_cpu()) return control_->all_gatherv(in);
    const Fingerprint fp = begin(Collective::kAllGatherV, ReduceOp::kSum, &in);
    GatherVResult r;
    r.counts = control_->exchange_counts(fp, in.numel());
    r.data = Tensor::empty({r.offset(size())}, in.dtype(), in.device());
    const size_t esize = dtype_size(in.dtype());
    launch(fp, [&](cudaStream_t s) {
      return in_group([&] {
        for (int q = 0; q < size(); ++q) {
          const size_t n = static_cast<size_t>(r.counts[static_cast<size_t>(q)]);
          if (n == 0) continue;  // every rank knows every count, so all skip alike
          char* dst = static_cast<char*>(r.data.raw_data()) + static_cast<size_t>(r.offset(q)) * esize;
          const ncclResult_t nr = ncclBroadcast(in.raw_data(), dst, n, nccl_type(in.dtype()), q, comm_, s);
          if (nr != ncclSuccess) return nr;
        }
        return ncclSuccess;
      });
    })->wait();
    return r;
  }
  GatherVResult gatherv(const Tensor& in, int root) override {
    if (in.device().is_cpu()) return control_->gatherv(in, root);
    ATTNCAMP_CHECK(root >= 0 && root < size(), "gatherv: root ", root, " out of range for ", size(), " ranks");
    const Fingerprint fp = begin(Collective::kGatherV, ReduceOp::kSum, &in, root);
    std::vector<int64_t> counts = control_->exchange_counts(fp, in.numel());
    GatherVResult r;
    if (rank() == root) r.counts = std::move(counts);
    r.data = Tensor::empty({r.offset(static_cast<int>(r.counts.size()))}, in.dtype(), in.device());
    const size_t esize = dtype_size(in.dtype());
    launch(fp, [&](cudaStream_t s) {
      if (rank() == root && in.nbytes() > 0) {
        char* own = static_cast<char*>(r.data.raw_data()) + static_cast<size_t>(r.offset(root)) * esize;
        ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(own, in.raw_data(), in.nbytes(), cudaMemcpyDeviceToDevice, s));
      }
      return in_group([&] {
        if (rank() != root) {
          return in.numel() > 0
                     ? ncclSend(in.raw_data(), static_cast<size_t>(in.numel()), nccl_type(in.dtype()), root, comm_, s)
                     : ncclSuccess;
        }
        for (int q = 0; q < size(); ++q) {
          const size_t n = static_cast<size_t>(r.counts[static_cast<size_t>(q)]);
          if (q == root || n == 0) continue;
          char* dst = static_cast<char*>(r.data.raw_data()) + static_cast<size_t>(r.offset(q)) * esize;
          const ncclResult_t nr = ncclRecv(dst, n, nccl_type(in.dtype()), q, comm_, s);
          if (nr != ncclSuccess) return nr;
        }
        return ncclSuccess;
      });
    })->wait();
    return r;
  }
  void barrier() override {
    next_fingerprint(Collective::kBarrier, ReduceOp::kSum, nullptr);
    control_->barrier();
  }
  [[noreturn]] void abort(const std::string& why) override {
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
    control_->abort(why);
    std::_Exit(1);  // not reached
  }
  [[noreturn]] void timed_out(const Fingerprint& fp) {
    std::ostringstream os;
    os << "NCCL collective " << fp.str() << " did not complete within " << opt_.timeout_s
       << " s (every rank passed its consistency check; the transfer stalled); aborting the job";
    abort(os.str());
  }

 private:
  void check_device(const Tensor& t) const {
    ATTNCAMP_CHECK(t.device() == Device::cuda(device_), "the nccl communicator works on tensors of cuda:", device_,
                   ", got ", t.device().str());
  }
  Fingerprint begin(Collective kind, ReduceOp op, const Tensor* t, int root = -1) {
    if (t != nullptr) check_device(*t);
    const Fingerprint fp = next_fingerprint(kind, op, t, root);
    if (opt_.check_consistency && size() > 1) control_->verify(fp);
    return fp;
  }
  template <class F>
  WorkPtr launch(const Fingerprint& fp, F call) {
    ATTNCAMP_CUDA_CHECK(cudaSetDevice(device_));
    cudaStream_t compute = static_cast<cudaStream_t>(current_cuda_stream(device_));
    cudaStream_t comm_stream = static_cast<cudaStream_t>(stream_->handle());
    cudaEvent_t ready = nullptr, done = nullptr;
    ATTNCAMP_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    ATTNCAMP_CUDA_CHECK(cudaEventRecord(ready, compute));
    ATTNCAMP_CUDA_CHECK(cudaStreamWaitEvent(comm_stream, ready, 0));
    cudaEventDestroy(ready);
    const ncclResult_t nr = call(comm_stream);
    ATTNCAMP_CHECK(nr == ncclSuccess, "NCCL ", fp.str(), " failed: ", ncclGetErrorString(nr), " (",
                   static_cast<int>(nr), "); rerun with NCCL_DEBUG=INFO for NCCL's own diagnosis");
    ATTNCAMP_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    ATTNCAMP_CUDA_CHECK(cudaEventRecord(done, comm_stream));
    return std::make_shared<NcclWork>(this, fp, done);
  }

  CommOptions opt_;
  std::unique_ptr<Communicator> control_;
  int device_ = 0;
  std::unique_ptr<Stream> stream_;
  ncclComm_t comm_ = nullptr;
};

NcclWork::~NcclWork() {
  if (!complete_) {
    try {
      wait();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "attncamp: error: %s\n", e.what());
    }
  }
  cudaEventDestroy(done_);
}

bool NcclWork::test() {
  if (complete_) return true;
  const cudaError_t st = cudaEventQuery(done_);
  if (st == cudaErrorNotReady) return false;
  ATTNCAMP_CUDA_CHECK(st);
  complete_ = true;
  return true;
}

// Host wait with a deadline; afterwards the caller's current stream is also ordered after the
// collective (so kernels queued later see its result).
void NcclWork::wait() {
  const auto t0 = std::chrono::steady_clock::now();
  while (!test()) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > comm_->timeout_s()) {
      comm_->timed_out(fp_);
    }
    std::this_thread::yield();
  }
}

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(int device, const CommOptions& options) {
  return std::make_unique<NcclCommunicator>(device, options);
}

}  // namespace attncamp
#endif
