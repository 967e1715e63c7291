// Collective communication between the processes of a data-parallel job: one interface, three
// backends. "mpi" works on host tensors (the CPU path and CI), "nccl" on CUDA tensors (one GPU
// per process; its unique id travels over MPI), "single" is one process without a launcher.
//
// Every fixed-size collective is asynchronous: it returns a Work handle whose wait() blocks until
// the result is in place. The variable-size gathers (all_gatherv, gatherv), whose output size is
// only known once the ranks have told each other their counts, block and return their result.
// Two guards keep a broken job from hanging silently:
//  - consistency check: before a collective runs, every rank's fingerprint of it (sequence
//    number, kind, reduce op, dtype, element count, root) is compared on rank 0; a rank that
//    calls a different collective, or the same one with another size, dtype or root, is named in
//    an error on every rank within one round trip, instead of a hang or a silent mix-up (the
//    v-collectives' element counts differ by design and are not compared);
//  - timeout: a collective (or its consistency check) that has not completed after
//    CommOptions::timeout_s prints which collective, its sequence number and size, and which
//    ranks did not arrive, and aborts the whole job (MPI_Abort / ncclCommAbort).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace attncamp {

enum class ReduceOp { kSum, kAvg, kMax };
const char* reduce_op_name(ReduceOp op);

enum class Collective { kAllReduce, kBroadcast, kAllGather, kReduceScatter, kBarrier, kAllGatherV, kGatherV };
const char* collective_name(Collective c);
// True for the collectives whose per-rank element count may differ (all_gatherv, gatherv).
bool has_variable_count(Collective c);

struct CommOptions {
  double timeout_s = 300;         // a collective not done after this aborts the job
  bool check_consistency = true;  // fingerprint every collective across ranks before running it
};

// What a rank is about to run; equal on every rank for a consistent job.
struct Fingerprint {
  int64_t seq = 0;  // 1-based count of collectives on this communicator
  Collective kind = Collective::kBarrier;
  ReduceOp op = ReduceOp::kSum;
  DType dtype = DType::kU8;
  int64_t count = 0;  // elements of the (per-rank) input; may differ across ranks for v-collectives
  int root = -1;      // broadcast and gatherv: the root rank; -1 otherwise
  // "all_reduce #5 (sum, 1000 x f32)", "gatherv #6 (root 3, 17 x i64)"
  std::string str() const;
  // What must be equal on every rank: everything but a v-collective's count.
  bool operator==(const Fingerprint& o) const {
    return seq == o.seq && kind == o.kind && op == o.op && dtype == o.dtype && root == o.root &&
           (count == o.count || has_variable_count(kind));
  }
};

// Result of a variable-size gather: the ranks' elements concatenated in rank order.
struct GatherVResult {
  // 1-D, sum(counts) elements of the inputs' dtype, on the input's device, contiguous: rank r's
  // elements (its input flattened in row-major order) are [offset(r), offset(r) + counts[r]).
  // Rows of width K come back as data.view({-1, K}) when every count is a multiple of K.
  Tensor data;
  std::vector<int64_t> counts;  // elements each rank contributed, in rank order (>= 0)
  // First element of rank r's part in data: counts[0] + ... + counts[r - 1].
  int64_t offset(int r) const;
};

// Handle of an asynchronous collective.
class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the collective has completed and its result is in place (throws
  // attncamp::Error on failure; on timeout the job is aborted).
  virtual void wait() = 0;
  // Makes progress without blocking; true once complete (wait() is then immediate).
  virtual bool test() = 0;
};
using WorkPtr = std::shared_ptr<Work>;

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank among the processes on this node (selects the GPU).
  virtual int local_rank() const = 0;
  virtual std::string backend() const = 0;

  // In place over a contiguous tensor of any dtype (avg of integers truncates).
  virtual WorkPtr all_reduce(Tensor& t, ReduceOp op) = 0;
  // Copies root's t into t on every rank.
  virtual WorkPtr broadcast(Tensor& t, int root) = 0;
  // out (size() * in.numel() elements, same dtype) = the inputs of ranks 0..size-1 in order.
  virtual WorkPtr all_gather(const Tensor& in, Tensor& out) = 0;
  // in has size() * out.numel() elements; rank r receives the reduction of chunk r.
  virtual WorkPtr reduce_scatter(const Tensor& in, Tensor& out, ReduceOp op) = 0;
  // Variable-size all-gather: each rank contributes a contiguous tensor of any shape and any
  // number of elements (0 included), all ranks the same dtype; every rank gets the concatenation
  // of all ranks' elements in rank order and each rank's count, in a new tensor on in's device.
  // Blocking: the counts are exchanged first (so nobody needs to know the output size up front),
  // then the data; the call returns once the result is in place (NCCL: the caller's current
  // stream may use it at once). The consistency check compares kind, dtype and sequence number.
  virtual GatherVResult all_gatherv(const Tensor& in) = 0;
  // Variable-size gather to `root`, otherwise like all_gatherv (blocking, same checks plus the
  // root). Only root gets a result: there data and counts are as in all_gatherv; every other rank
  // gets an empty result (data a defined 1-D tensor of 0 elements of in's dtype on in's device,
  // counts empty).
  virtual GatherVResult gatherv(const Tensor& in, int root) = 0;
  // Blocks until every rank has called barrier().
  virtual void barrier() = 0;
  // Compares `fp` across ranks like the check before every collective, throwing the desync error
  // (or aborting on timeout) when ranks differ. Used by backends that run their collectives
  // elsewhere (NCCL checks over its MPI control communicator). No-op where there is nothing to
  // compare (one rank, or checks disabled).
  virtual void verify(const Fingerprint& fp) { (void)fp; }
  // Every rank's `n`, in rank order: the count exchange of the v-collectives, a blocking
  // all-gather of one int64 that does not count as a collective of its own (no sequence number,
  // no check); a timeout names `fp`. NCCL runs it over its MPI control communicator. The default
  // serves one rank.
  virtual std::vector<int64_t> exchange_counts(const Fingerprint& fp, int64_t n);
  // Aborts the whole job now (all ranks), after printing `why`. Never returns.
  [[noreturn]] virtual void abort(const std::string& why) = 0;

  // Collectives issued so far (the next one gets sequence() + 1).
  int64_t sequence() const { return seq_; }

 protected:
  // The fingerprint of the next collective (checks that `t`, when given, is defined and contiguous).
  Fingerprint next_fingerprint(Collective kind, ReduceOp op, const Tensor* t, int root = -1);
  int64_t seq_ = 0;
};

// One process: collectives are local copies (all_reduce is the identity).
std::unique_ptr<Communicator> make_single_communicator();
// MPI over MPI_COMM_WORLD (initialises MPI on first use; finalised at exit). Host tensors only.
// Throws in builds without MPI.
std::unique_ptr<Communicator> make_mpi_communicator(const CommOptions& options = {});
// NCCL on CUDA tensors of `device` (-1: the GPU of the node-local rank), bootstrapped over MPI
// (rank 0 creates the unique id and broadcasts it); host tensors given to it travel over that MPI
// communicator. Throws in builds without NCCL or MPI.
std::unique_ptr<Communicator> make_nccl_communicator(int device, const CommOptions& options = {});
// After a fatal error on one rank of a multi-process MPI job: MPI_Abort, so the other ranks are
// killed instead of waiting forever in their next collective. No-op when MPI is not initialised
// or the job has one process.
void abort_distributed_job(int code);

// True when this build has the MPI backend / the NCCL backend (which also needs MPI).
bool mpi_compiled();
bool nccl_compiled();
// True when this process was started by mpirun/mpiexec or srun with more than one task
// (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_SIZE? or SLURM_NTASKS in the environment).
bool launched_by_mpi();
// "single" unless launched by a launcher with more than one process: then "nccl" for CUDA
// devices (when built with NCCL) and "mpi" otherwise.
std::unique_ptr<Communicator> make_communicator(Device device, const CommOptions& options = {});

}  // namespace attncamp
