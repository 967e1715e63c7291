// Backend-independent parts of the communicators: names, fingerprints, launcher detection, the
// factory, and the single-process backend.
#include "runtime/communicator.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace attncamp {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAvg: return "avg";
    case ReduceOp::kMax: return "max";
  }
  return "?";
}

const char* collective_name(Collective c) {
  switch (c) {
    case Collective::kAllReduce: return "all_reduce";
    case Collective::kBroadcast: return "broadcast";
    case Collective::kAllGather: return "all_gather";
    case Collective::kReduceScatter: return "reduce_scatter";
    case Collective::kBarrier: return "barrier";
    case Collective::kAllGatherV: return "all_gatherv";
    case Collective::kGatherV: return "gatherv";
  }
  return "?";
}

bool has_variable_count(Collective c) { return c == Collective::kAllGatherV || c == Collective::kGatherV; }

int64_t GatherVResult::offset(int r) const {
  ATTNCAMP_CHECK(r >= 0 && static_cast<size_t>(r) <= counts.size(), "GatherVResult::offset: rank ", r,
                 " out of range for ", counts.size(), " counts");
  int64_t o = 0;
  for (int q = 0; q < r; ++q) o += counts[static_cast<size_t>(q)];
  return o;
}

std::string Fingerprint::str() const {
  std::ostringstream os;
  os << collective_name(kind) << " #" << seq << " (";
  if (kind == Collective::kAllReduce || kind == Collective::kReduceScatter) os << reduce_op_name(op) << ", ";
  if (root >= 0) os << "root " << root << ", ";
  os << count << " x " << dtype_name(dtype) << ")";
  return os.str();
}

Fingerprint Communicator::next_fingerprint(Collective kind, ReduceOp op, const Tensor* t, int root) {
  Fingerprint f;
  f.seq = ++seq_;
  f.kind = kind;
  f.op = op;
  f.root = root;
  if (t != nullptr) {
    ATTNCAMP_CHECK(t->defined(), collective_name(kind), ": tensor is undefined");
    ATTNCAMP_CHECK(t->is_contiguous(), collective_name(kind), ": tensor must be contiguous");
    f.dtype = t->dtype();
    f.count = t->numel();
  }
  return f;
}

std::vector<int64_t> Communicator::exchange_counts(const Fingerprint& fp, int64_t n) {
  ATTNCAMP_CHECK(size() == 1, fp.str(), ": the ", backend(), " communicator cannot exchange counts");
  return {n};
}

namespace {

// Work that is complete when created.
class DoneWork : public Work {
 public:
  void wait() override {}
  bool test() override { return true; }
};

class SingleCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string backend() const override { return "single"; }
  WorkPtr all_reduce(Tensor& t, ReduceOp op) override {
    next_fingerprint(Collective::kAllReduce, op, &t);
    return std::make_shared<DoneWork>();
  }
  WorkPtr broadcast(Tensor& t, int root) override {
    ATTNCAMP_CHECK(root == 0, "broadcast: root ", root, " out of range for 1 rank");
    next_fingerprint(Collective::kBroadcast, ReduceOp::kSum, &t, root);
    return std::make_shared<DoneWork>();
  }
  WorkPtr all_gather(const Tensor& in, Tensor& out) override {
    next_fingerprint(Collective::kAllGather, ReduceOp::kSum, &in);
    ATTNCAMP_CHECK(out.numel() == in.numel() && out.dtype() == in.dtype(), "all_gather: output needs ", in.numel(),
                   " elements of ", dtype_name(in.dtype()));
    out.copy_from(in.view(out.shape()));
    return std::make_shared<DoneWork>();
  }
  WorkPtr reduce_scatter(const Tensor& in, Tensor& out, ReduceOp op) override {
    next_fingerprint(Collective::kReduceScatter, op, &in);
    ATTNCAMP_CHECK(out.numel() == in.numel() && out.dtype() == in.dtype(), "reduce_scatter: output needs ", in.numel(),
                   " elements of ", dtype_name(in.dtype()));
    out.copy_from(in.view(out.shape()));
    return std::make_shared<DoneWork>();
  }
  GatherVResult all_gatherv(const Tensor& in) override {
    next_fingerprint(Collective::kAllGatherV, ReduceOp::kSum, &in);
    return local_copy(in);
  }
  GatherVResult gatherv(const Tensor& in, int root) override {
    ATTNCAMP_CHECK(root == 0, "gatherv: root ", root, " out of range for 1 rank");
    next_fingerprint(Collective::kGatherV, ReduceOp::kSum, &in, root);
    return local_copy(in);
  }
  void barrier() override { next_fingerprint(Collective::kBarrier, ReduceOp::kSum, nullptr); }
  [[noreturn]] void abort(const std::string& why) override {
    std::fprintf(stderr, "attncamp: error: %s\n", why.c_str());
    std::fflush(stderr);
    std::_Exit(1);
  }

 private:
  static GatherVResult local_copy(const Tensor& in) {
    GatherVResult r;
    r.data = Tensor::empty({in.numel()}, in.dtype(), in.device());
    r.data.copy_from(in.view({in.numel()}));
    r.counts = {in.numel()};
    return r;
  }
};

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : 0;
}

}  // namespace

std::unique_ptr<Communicator> make_single_communicator() { return std::make_unique<SingleCommunicator>(); }

bool mpi_compiled() {
#ifdef ATTNCAMP_WITH_MPI
  return true;
#else
  return false;
#endif
}

bool nccl_compiled() {
#if defined(ATTNCAMP_WITH_NCCL) && defined(ATTNCAMP_WITH_MPI)
  return true;
#else
  return false;
#endif
}

bool launched_by_mpi() {
  if (env_int("OMPI_COMM_WORLD_SIZE") > 1 || env_int("PMI_SIZE") > 1) return true;
  // srun --mpi=pmix: PMIx sets PMIX_RANK in every task; the step's task count is Slurm's.
  return std::getenv("PMIX_RANK") != nullptr && env_int("SLURM_STEP_NUM_TASKS") > 1;
}

std::unique_ptr<Communicator> make_communicator(Device device, const CommOptions& options) {
  if (!launched_by_mpi()) return make_single_communicator();
  if (!device.is_cpu()) return make_nccl_communicator(-1, options);
  return make_mpi_communicator(options);
}

#ifndef ATTNCAMP_WITH_MPI
void abort_distributed_job(int) {}

std::unique_ptr<Communicator> make_mpi_communicator(const CommOptions&) {
  ATTNCAMP_THROW("this process was started by an MPI launcher but this build has no MPI support ",
                 "(configure with -DATTNCAMP_MPI=ON on a machine with Open MPI)");
}
#endif
#if !defined(ATTNCAMP_WITH_NCCL) || !defined(ATTNCAMP_WITH_MPI)
std::unique_ptr<Communicator> make_nccl_communicator(int, const CommOptions&) {
  ATTNCAMP_THROW("multi-GPU training needs NCCL and MPI, but this build lacks ",
#ifndef ATTNCAMP_WITH_NCCL
                 "NCCL",
#else
                 "MPI",
#endif
                 " (configure with -DATTNCAMP_NCCL=ON -DATTNCAMP_MPI=ON)");
}
#endif

}  // namespace attncamp
