// MPI backend of the Communicator (host tensors): nonblocking collectives on a duplicate of
// MPI_COMM_WORLD, progressed by polling MPI_Test from wait()/test() with a deadline; bf16/f16
// reductions through user-defined MPI ops; the consistency check as a gather of fingerprints to
// rank 0 (point-to-point, so rank 0 knows exactly which ranks have not arrived) and a verdict
// sent back.
#ifdef ATTNCAMP_WITH_MPI
// The C API only (Open MPI and MPICH otherwise pull in their deprecated C++ bindings).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>
#include <vector>

#include "runtime/communicator.h"
#include "runtime/half.h"
#include "runtime/process.h"

#define ATTNCAMP_MPI_CHECK(call)                                                     \
  do {                                                                               \
    const int attncamp_rc_ = (call);                                                 \
    if (attncamp_rc_ != MPI_SUCCESS) {                                               \
      char attncamp_msg_[MPI_MAX_ERROR_STRING];                                      \
      int attncamp_len_ = 0;                                                         \
      MPI_Error_string(attncamp_rc_, attncamp_msg_, &attncamp_len_);                 \
      ATTNCAMP_THROW(#call, " failed: ", std::string(attncamp_msg_, attncamp_len_)); \
    }                                                                                \
  } while (0)

namespace attncamp {
namespace {

constexpr int kTagFingerprint = 7001;
constexpr int kTagVerdict = 7002;
constexpr int kFpWords = 6;

using Clock = std::chrono::steady_clock;

// Polls `done` until it returns true; calls `on_timeout` (which must not return) after
// `timeout_s`. Yields the core between polls (a waiting rank leaves it to ranks still computing
// when the job oversubscribes the CPU, and costs no latency otherwise), and after a second of
// waiting sleeps 1 ms between polls.
template <class Done, class OnTimeout>
void poll(Done done, double timeout_s, OnTimeout on_timeout) {
  const auto t0 = Clock::now();
  for (int64_t spins = 0; !done(); ++spins) {
    const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
    if (waited > timeout_s) on_timeout();
    if (waited > 1.0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } else {
      std::this_thread::yield();
    }
  }
}

template <class T, class F>
void reduce16(const void* in, void* inout, int n, F to_float, T (*from_float)(float), bool max) {
  const T* a = static_cast<const T*>(in);
  T* b = static_cast<T*>(inout);
  for (int i = 0; i < n; ++i) {
    const float x = to_float(a[i]), y = to_float(b[i]);
    b[i] = from_float(max ? (x > y ? x : y) : x + y);
  }
}

void bf16_sum(void* in, void* io, int* n, MPI_Datatype*) {
  reduce16<BFloat16>(in, io, *n, bf16_to_float, float_to_bf16, false);
}
void bf16_max(void* in, void* io, int* n, MPI_Datatype*) {
  reduce16<BFloat16>(in, io, *n, bf16_to_float, float_to_bf16, true);
}
void f16_sum(void* in, void* io, int* n, MPI_Datatype*) {
  reduce16<Float16>(in, io, *n, f16_to_float, float_to_f16, false);
}
void f16_max(void* in, void* io, int* n, MPI_Datatype*) {
  reduce16<Float16>(in, io, *n, f16_to_float, float_to_f16, true);
}

// MPI state shared by every MpiCommunicator of the process: initialised once, finalised at exit.
struct MpiGlobals {
  MPI_Datatype half_type = MPI_DATATYPE_NULL;
  MPI_Op bf16_sum_op = MPI_OP_NULL, bf16_max_op = MPI_OP_NULL, f16_sum_op = MPI_OP_NULL, f16_max_op = MPI_OP_NULL;
};

void finalize_mpi() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

MpiGlobals& mpi_globals() {
  static MpiGlobals* g = [] {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      ATTNCAMP_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
      std::atexit(finalize_mpi);
    }
    auto* x = new MpiGlobals();
    ATTNCAMP_MPI_CHECK(MPI_Type_contiguous(2, MPI_BYTE, &x->half_type));
    ATTNCAMP_MPI_CHECK(MPI_Type_commit(&x->half_type));
    ATTNCAMP_MPI_CHECK(MPI_Op_create(bf16_sum, 1, &x->bf16_sum_op));
    ATTNCAMP_MPI_CHECK(MPI_Op_create(bf16_max, 1, &x->bf16_max_op));
    ATTNCAMP_MPI_CHECK(MPI_Op_create(f16_sum, 1, &x->f16_sum_op));
    ATTNCAMP_MPI_CHECK(MPI_Op_create(f16_max, 1, &x->f16_max_op));
    return x;
  }();
  return *g;
}

MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case DType::kF32: return MPI_FLOAT;
    case DType::kF64: return MPI_DOUBLE;
    case DType::kI32: return MPI_INT32_T;
    case DType::kI64: return MPI_INT64_T;
    case DType::kU8: return MPI_UINT8_T;
    case DType::kBF16:
    case DType::kF16: return mpi_globals().half_type;
  }
  return MPI_BYTE;
}

// Avg is a sum followed by a division on completion.
MPI_Op mpi_op(ReduceOp op, DType d) {
  const bool max = op == ReduceOp::kMax;
  if (d == DType::kBF16) return max ? mpi_globals().bf16_max_op : mpi_globals().bf16_sum_op;
  if (d == DType::kF16) return max ? mpi_globals().f16_max_op : mpi_globals().f16_sum_op;
  return max ? MPI_MAX : MPI_SUM;
}

template <class T>
void divide_as(void* p, int64_t n, int by) {
  T* x = static_cast<T*>(p);
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(x[i] / static_cast<T>(by));
}

// x /= by, elementwise, in x's dtype.
void divide(void* p, DType d, int64_t n, int by) {
  switch (d) {
    case DType::kF32: divide_as<float>(p, n, by); break;
    case DType::kF64: divide_as<double>(p, n, by); break;
    case DType::kI32: divide_as<int32_t>(p, n, by); break;
    case DType::kI64: divide_as<int64_t>(p, n, by); break;
    case DType::kU8: divide_as<uint8_t>(p, n, by); break;
    case DType::kBF16: {
      auto* x = static_cast<BFloat16*>(p);
      for (int64_t i = 0; i < n; ++i) x[i] = float_to_bf16(bf16_to_float(x[i]) / static_cast<float>(by));
      break;
    }
    case DType::kF16: {
      auto* x = static_cast<Float16*>(p);
      for (int64_t i = 0; i < n; ++i) x[i] = float_to_f16(f16_to_float(x[i]) / static_cast<float>(by));
      break;
    }
  }
}

int to_int_count(int64_t n, const char* what) {
  ATTNCAMP_CHECK(n <= INT32_MAX, what, ": ", n, " elements exceed MPI's int count; split the buffer");
  return static_cast<int>(n);
}

// MPI's int counts and displacements (in elements) of a v-collective over every rank's count.
// Every rank knows every count, so an oversized total is rejected on every rank alike.
struct IntLayout {
  std::vector<int> counts, displs;
  int64_t total = 0;
};

IntLayout int_layout(const Fingerprint& fp, const std::vector<int64_t>& counts) {
  IntLayout l;
  for (int64_t c : counts) l.total += c;
  to_int_count(l.total, collective_name(fp.kind));
  for (int64_t c : counts) {
    l.displs.push_back(l.displs.empty() ? 0 : l.displs.back() + l.counts.back());
    l.counts.push_back(static_cast<int>(c));
  }
  return l;
}

class MpiCommunicator;

class MpiWork : public Work {
 public:
  MpiWork(MpiCommunicator* comm, MPI_Request req, Fingerprint fp, void* avg_data, int avg_by)
      : comm_(comm), req_(req), fp_(fp), avg_data_(avg_data), avg_by_(avg_by) {}
  ~MpiWork() override {
    if (!done_) {
      try {
        wait();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "attncamp: error: %s\n", e.what());
      }
    }
  }
  bool test() override;
  void wait() override;

 private:
  void finish();
  MpiCommunicator* comm_;
  MPI_Request req_;
  Fingerprint fp_;
  void* avg_data_;
  int avg_by_;
  bool done_ = false;
};

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(const CommOptions& o) : opt_(o) {
    mpi_globals();
    ATTNCAMP_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
    ATTNCAMP_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    ATTNCAMP_MPI_CHECK(MPI_Comm_size(comm_, &size_));
    MPI_Comm local;
    ATTNCAMP_MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local));
    ATTNCAMP_MPI_CHECK(MPI_Comm_rank(local, &local_rank_));
    MPI_Comm_free(&local);
    set_process_rank(rank_);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return "mpi"; }
  double timeout_s() const { return opt_.timeout_s; }

  WorkPtr all_reduce(Tensor& t, ReduceOp op) override {
    const Fingerprint fp = begin(Collective::kAllReduce, op, &t);
    MPI_Request req;
    ATTNCAMP_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), to_int_count(t.numel(), "all_reduce"),
                                      mpi_type(t.dtype()), mpi_op(op, t.dtype()), comm_, &req));
    return std::make_shared<MpiWork>(this, req, fp, op == ReduceOp::kAvg ? t.raw_data() : nullptr,
                                     op == ReduceOp::kAvg ? size_ : 1);
  }

  WorkPtr broadcast(Tensor& t, int root) override {
    ATTNCAMP_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " out of range for ", size_, " ranks");
    const Fingerprint fp = begin(Collective::kBroadcast, ReduceOp::kSum, &t, root);
    MPI_Request req;
    ATTNCAMP_MPI_CHECK(
        MPI_Ibcast(t.raw_data(), to_int_count(t.numel(), "broadcast"), mpi_type(t.dtype()), root, comm_, &req));
    return std::make_shared<MpiWork>(this, req, fp, nullptr, 1);
  }

  WorkPtr all_gather(const Tensor& in, Tensor& out) override {
    ATTNCAMP_CHECK(out.numel() == in.numel() * size_ && out.dtype() == in.dtype() && out.is_contiguous(),
                   "all_gather: output must be contiguous with ", in.numel() * size_, " elements of ",
                   dtype_name(in.dtype()), " (got ", out.numel(), " of ", dtype_name(out.dtype()), ")");
    check_host(out);
    const Fingerprint fp = begin(Collective::kAllGather, ReduceOp::kSum, &in);
    const int n = to_int_count(in.numel(), "all_gather");
    MPI_Request req;
    ATTNCAMP_MPI_CHECK(
        MPI_Iallgather(in.raw_data(), n, mpi_type(in.dtype()), out.raw_data(), n, mpi_type(in.dtype()), comm_, &req));
    return std::make_shared<MpiWork>(this, req, fp, nullptr, 1);
  }

  WorkPtr reduce_scatter(const Tensor& in, Tensor& out, ReduceOp op) override {
    ATTNCAMP_CHECK(in.numel() == out.numel() * size_ && out.dtype() == in.dtype() && out.is_contiguous(),
                   "reduce_scatter: input must have ", out.numel() * size_, " elements of ", dtype_name(out.dtype()),
                   " (got ", in.numel(), " of ", dtype_name(in.dtype()), ")");
    check_host(out);
    const Fingerprint fp = begin(Collective::kReduceScatter, op, &in);
    MPI_Request req;
    ATTNCAMP_MPI_CHECK(MPI_Ireduce_scatter_block(in.raw_data(), out.raw_data(),
                                                 to_int_count(out.numel(), "reduce_scatter"), mpi_type(in.dtype()),
                                                 mpi_op(op, in.dtype()), comm_, &req));
    return std::make_shared<MpiWork>(this, req, fp, op == ReduceOp::kAvg ? out.raw_data() : nullptr,
                                     op == ReduceOp::kAvg ? size_ : 1);
  }

  GatherVResult all_gatherv(const Tensor& in) override {
    const Fingerprint fp = begin(Collective::kAllGatherV, ReduceOp::kSum, &in);
    GatherVResult r;
    r.counts = exchange_counts(fp, in.numel());
    const IntLayout l = int_layout(fp, r.counts);
    r.data = Tensor::empty({l.total}, in.dtype());
    const MPI_Datatype type = mpi_type(in.dtype());
    MPI_Request req;
    ATTNCAMP_MPI_CHECK(MPI_Iallgatherv(in.raw_data(), l.counts[static_cast<size_t>(rank_)], type, r.data.raw_data(),
                                       l.counts.data(), l.displs.data(), type, comm_, &req));
    MpiWork(this, req, fp, nullptr, 1).wait();
    return r;
  }

  // Every rank learns every count (an all-gather, not a gather to root) so that all of them
  // agree on whether the total fits MPI's int.
  GatherVResult gatherv(const Tensor& in, int root) override {
    ATTNCAMP_CHECK(root >= 0 && root < size_, "gatherv: root ", root, " out of range for ", size_, " ranks");
    const Fingerprint fp = begin(Collective::kGatherV, ReduceOp::kSum, &in, root);
    std::vector<int64_t> counts = exchange_counts(fp, in.numel());
    const IntLayout l = int_layout(fp, counts);
    GatherVResult r;
    r.data = Tensor::empty({rank_ == root ? l.total : 0}, in.dtype());
    const MPI_Datatype type = mpi_type(in.dtype());
    MPI_Request req;
    ATTNCAMP_MPI_CHECK(MPI_Igatherv(in.raw_data(), l.counts[static_cast<size_t>(rank_)], type, r.data.raw_data(),
                                    l.counts.data(), l.displs.data(), type, root, comm_, &req));
    MpiWork(this, req, fp, nullptr, 1).wait();
    if (rank_ == root) r.counts = std::move(counts);
    return r;
  }

  std::vector<int64_t> exchange_counts(const Fingerprint& fp, int64_t n) override {
    std::vector<int64_t> all(static_cast<size_t>(size_));
    MPI_Request req;
    ATTNCAMP_MPI_CHECK(MPI_Iallgather(&n, 1, MPI_INT64_T, all.data(), 1, MPI_INT64_T, comm_, &req));
    MpiWork(this, req, fp, nullptr, 1).wait();
    return all;
  }

  void barrier() override {
    const Fingerprint fp = begin(Collective::kBarrier, ReduceOp::kSum, nullptr);
    MPI_Request req;
    ATTNCAMP_MPI_CHECK(MPI_Ibarrier(comm_, &req));
    MpiWork(this, req, fp, nullptr, 1).wait();
  }

  void verify(const Fingerprint& fp) override {
    if (opt_.check_consistency && size_ > 1) check_consistency(fp);
  }

  [[noreturn]] void abort(const std::string& why) override {
    std::fprintf(stderr, "attncamp: error: [rank %d] %s\n", rank_, why.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

  // Aborts the job after a collective (or its check) missed its deadline.
  [[noreturn]] void timed_out(const Fingerprint& fp, const std::string& detail) {
    std::ostringstream os;
    os << "collective " << fp.str() << " did not complete within " << opt_.timeout_s << " s; " << detail
       << "; aborting the job";
    abort(os.str());
  }

 private:
  void check_host(const Tensor& t) const {
    ATTNCAMP_CHECK(t.device().is_cpu(), "the mpi communicator works on host tensors; ", t.device().str(),
                   " tensors need the nccl backend");
  }

  Fingerprint begin(Collective kind, ReduceOp op, const Tensor* t, int root = -1) {
    if (t != nullptr) check_host(*t);
    const Fingerprint fp = next_fingerprint(kind, op, t, root);
    if (opt_.check_consistency && size_ > 1) check_consistency(fp);
    return fp;
  }

  static void pack(const Fingerprint& f, int64_t* w) {
    w[0] = f.seq;
    w[1] = static_cast<int64_t>(f.kind);
    w[2] = static_cast<int64_t>(f.op);
    w[3] = static_cast<int64_t>(f.dtype);
    w[4] = f.count;
    w[5] = f.root;
  }
  static Fingerprint unpack(const int64_t* w) {
    Fingerprint f;
    f.seq = w[0];
    f.kind = static_cast<Collective>(w[1]);
    f.op = static_cast<ReduceOp>(w[2]);
    f.dtype = static_cast<DType>(w[3]);
    f.count = w[4];
    f.root = static_cast<int>(w[5]);
    return f;
  }

  // Rank 0 collects every fingerprint (knowing who is missing), compares them with its own and
  // sends each rank the verdict: -1, or the first diverging rank and both fingerprints.
  void check_consistency(const Fingerprint& fp) {
    int64_t mine[kFpWords];
    pack(fp, mine);
    std::vector<int64_t> verdict(1 + 2 * kFpWords, -1);
    if (rank_ == 0) {
      std::vector<int64_t> all(static_cast<size_t>(size_) * kFpWords);
      std::vector<MPI_Request> reqs(size_ - 1);
      for (int r = 1; r < size_; ++r) {
        ATTNCAMP_MPI_CHECK(
            MPI_Irecv(&all[r * kFpWords], kFpWords, MPI_INT64_T, r, kTagFingerprint, comm_, &reqs[r - 1]));
      }
      std::vector<int> arrived(size_, 0);
      arrived[0] = 1;
      poll(
          [&] {
            bool all_in = true;
            for (int r = 1; r < size_; ++r) {
              if (!arrived[r]) {
                int flag = 0;
                MPI_Test(&reqs[r - 1], &flag, MPI_STATUS_IGNORE);
                arrived[r] = flag;
              }
              all_in = all_in && arrived[r];
            }
            return all_in;
          },
          opt_.timeout_s,
          [&] {
            std::ostringstream missing;
            for (int r = 1, k = 0; r < size_; ++r) {
              if (!arrived[r]) missing << (k++ ? ", " : "") << r;
            }
            timed_out(fp, "ranks that did not arrive: " + missing.str());
          });
      for (int r = 1; r < size_; ++r) {
        if (unpack(&all[r * kFpWords]) == fp) continue;
        verdict[0] = r;
        pack(fp, &verdict[1]);
        std::copy(&all[r * kFpWords], &all[r * kFpWords] + kFpWords, &verdict[1 + kFpWords]);
        break;
      }
      std::vector<MPI_Request> sends(size_ - 1);
      for (int r = 1; r < size_; ++r) {
        ATTNCAMP_MPI_CHECK(MPI_Isend(verdict.data(), static_cast<int>(verdict.size()), MPI_INT64_T, r, kTagVerdict,
                                     comm_, &sends[r - 1]));
      }
      ATTNCAMP_MPI_CHECK(MPI_Waitall(size_ - 1, sends.data(), MPI_STATUSES_IGNORE));
    } else {
      MPI_Request send, recv;
      ATTNCAMP_MPI_CHECK(MPI_Isend(mine, kFpWords, MPI_INT64_T, 0, kTagFingerprint, comm_, &send));
      ATTNCAMP_MPI_CHECK(
          MPI_Irecv(verdict.data(), static_cast<int>(verdict.size()), MPI_INT64_T, 0, kTagVerdict, comm_, &recv));
      poll(
          [&] {
            int flag = 0;
            MPI_Test(&recv, &flag, MPI_STATUS_IGNORE);
            return flag != 0;
          },
          opt_.timeout_s, [&] { timed_out(fp, "rank 0 did not answer the consistency check"); });
      ATTNCAMP_MPI_CHECK(MPI_Wait(&send, MPI_STATUS_IGNORE));
    }
    if (verdict[0] >= 0) {
      ATTNCAMP_THROW("collective desync: rank ", verdict[0], " called ", unpack(&verdict[1 + kFpWords]).str(),
                     " while rank 0 called ", unpack(&verdict[1]).str());
    }
  }

  CommOptions opt_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

bool MpiWork::test() {
  if (done_) return true;
  int flag = 0;
  ATTNCAMP_MPI_CHECK(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE));
  if (flag) finish();
  return done_;
}

void MpiWork::wait() {
  if (done_) return;
  poll([&] { return test(); }, comm_->timeout_s(),
       [&] { comm_->timed_out(fp_, "every rank passed its consistency check; the transfer itself stalled"); });
}

void MpiWork::finish() {
  done_ = true;
  if (avg_data_ != nullptr)
    divide(avg_data_, fp_.dtype, fp_.kind == Collective::kReduceScatter ? fp_.count / avg_by_ : fp_.count, avg_by_);
}

}  // namespace

void abort_distributed_job(int code) {
  int initialized = 0, finalized = 0, size = 1;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

std::unique_ptr<Communicator> make_mpi_communicator(const CommOptions& options) {
  return std::make_unique<MpiCommunicator>(options);
}

}  // namespace attncamp
#endif  // ATTNCAMP_WITH_MPI
