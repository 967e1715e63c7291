// NCCL backend on one GPU with one rank (NCCL needs one GPU per rank, and the GPU machines have
// one): every collective runs through NCCL on device buffers and gives the exact one-rank result;
// values come back to the host for checking. The variable-size gathers also run on several ranks
// when this binary is started by mpirun on a node with a GPU per rank (the cases of
// tests/runtime/gatherv_cases.h, as the MPI tests run them). Skips, saying why, without NCCL, a GPU
// or (for the multi-rank tests) several ranks.
#include <gtest/gtest.h>

#include <string>

#include "runtime/communicator.h"
#include "tests/cuda_test_util.h"
#include "tests/runtime/gatherv_cases.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

// The one-rank tests skip under mpirun, where the multi-rank tests run instead.
#define REQUIRE_NCCL_GPU()                                                                              \
  ATTNCAMP_REQUIRE_GPU();                                                                               \
  if (!nccl_compiled()) GTEST_SKIP() << "this build has no NCCL backend (ATTNCAMP_NCCL=OFF or no MPI)"; \
  if (launched_by_mpi()) GTEST_SKIP() << "a one-rank test, and mpirun started several ranks"

TEST(NcclCommunicator, OneRankCollectivesAreExact) {
  REQUIRE_NCCL_GPU();
  std::unique_ptr<Communicator> c = make_nccl_communicator(0, CommOptions{60, true});
  ASSERT_EQ(c->backend(), "nccl");
  ASSERT_EQ(c->size(), 1);
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16, DType::kF64}) {
    for (int64_t n : {1, 7, 4099}) {
      const Tensor host = test::random_tensor({n}, DType::kF64, 7 + n, -4, 4);
      Tensor x = test::to_gpu(host, dt);
      const Tensor expected = test::to_host_f64(x);
      c->all_reduce(x, ReduceOp::kSum)->wait();
      EXPECT_EQ(test::max_abs_diff(test::to_host_f64(x), expected), 0.0) << dtype_name(dt) << " sum n=" << n;
      c->all_reduce(x, ReduceOp::kAvg)->wait();
      c->all_reduce(x, ReduceOp::kMax)->wait();
      EXPECT_EQ(test::max_abs_diff(test::to_host_f64(x), expected), 0.0) << dtype_name(dt) << " avg/max n=" << n;
      Tensor out = Tensor::empty({n}, dt, Device::cuda(0));
      out.poison();
      c->all_gather(x, out)->wait();
      EXPECT_EQ(test::max_abs_diff(test::to_host_f64(out), expected), 0.0) << dtype_name(dt) << " all_gather";
      out.poison();
      c->reduce_scatter(x, out, ReduceOp::kSum)->wait();
      EXPECT_EQ(test::max_abs_diff(test::to_host_f64(out), expected), 0.0) << dtype_name(dt) << " reduce_scatter";
      c->broadcast(x, 0)->wait();
      EXPECT_EQ(test::max_abs_diff(test::to_host_f64(x), expected), 0.0) << dtype_name(dt) << " broadcast";
    }
  }
  c->barrier();
  EXPECT_GT(c->sequence(), 0);
}

TEST(NcclCommunicator, OneRankVGathersAreExact) {
  REQUIRE_NCCL_GPU();
  std::unique_ptr<Communicator> c = make_nccl_communicator(0, CommOptions{60, true});
  for (DType dt : test::kGatherVDTypes) {
    for (int k = 0; k < test::kGatherVCases; ++k) {
      const std::string what = std::string(dtype_name(dt)) + " case " + std::to_string(k);
      const Tensor in = test::gatherv_input(dt, k, 0, 1).to(Device::cuda(0));
      const GatherVResult all = c->all_gatherv(in);
      EXPECT_EQ(all.data.device(), Device::cuda(0)) << what;
      test::expect_gathered(all, dt, k, 1, "all_gatherv " + what);
      test::expect_gathered(c->gatherv(in, 0), dt, k, 1, "gatherv " + what);
    }
  }
  test::expect_error([&] { c->all_gatherv(Tensor::zeros({3})); }, {"nccl", "cuda:0", "cpu"});
}

// The NCCL communicator of a job started by mpirun with a GPU per rank, or null with `why`. Every
// rank reaches the same verdict (an MPI all-reduce), so none waits in a collective for a rank that
// skipped.
Communicator* multi_rank_nccl(std::string& why) {
  static std::unique_ptr<Communicator> nccl;
  static std::string reason = [] {
    std::string r = test::gpu_unavailable_reason();
    if (r.empty() && !nccl_compiled()) r = "this build has no NCCL backend (ATTNCAMP_NCCL=OFF or no MPI)";
    if (r.empty() && !launched_by_mpi()) r = "needs several ranks (run under mpirun -np 2 with a GPU per rank)";
    if (!launched_by_mpi() || !mpi_compiled()) return r;
    std::unique_ptr<Communicator> mpi = make_mpi_communicator(CommOptions{60, true});
    if (r.empty() && cuda_device_count() <= mpi->local_rank()) r = "this node has fewer GPUs than ranks";
    Tensor unusable = Tensor::zeros({1}, DType::kI32);
    unusable.data<int32_t>()[0] = r.empty() ? 0 : 1;
    mpi->all_reduce(unusable, ReduceOp::kMax)->wait();
    if (r.empty() && unusable.data<int32_t>()[0] != 0) r = "another rank cannot run NCCL (see its skip reason)";
    if (r.empty()) nccl = make_nccl_communicator(-1, CommOptions{60, true});
    return r;
  }();
  why = reason;
  return nccl.get();
}

// Declares `c`, the multi-rank NCCL communicator, or skips saying why there is none.
#define REQUIRE_MULTI_RANK_NCCL(c)                  \
  std::string attncamp_why_;                        \
  Communicator* c = multi_rank_nccl(attncamp_why_); \
  if (c == nullptr) GTEST_SKIP() << attncamp_why_;  \
  if (c->size() < 2) GTEST_SKIP() << "needs at least 2 ranks (mpirun -np 2)"

TEST(NcclCommunicatorRanks, AllGatherVConcatenatesInRankOrder) {
  REQUIRE_MULTI_RANK_NCCL(c);
  const Device gpu = Device::cuda(c->local_rank());
  for (DType dt : test::kGatherVDTypes) {
    for (int k = 0; k < test::kGatherVCases; ++k) {
      const GatherVResult got = c->all_gatherv(test::gatherv_input(dt, k, c->rank(), c->size()).to(gpu));
      EXPECT_EQ(got.data.device(), gpu);
      test::expect_gathered(got, dt, k, c->size(), std::string(dtype_name(dt)) + " case " + std::to_string(k));
    }
  }
}

TEST(NcclCommunicatorRanks, GatherVReachesOnlyTheRoot) {
  REQUIRE_MULTI_RANK_NCCL(c);
  const Device gpu = Device::cuda(c->local_rank());
  for (int root : {0, c->size() - 1}) {
    for (DType dt : test::kGatherVDTypes) {
      for (int k = 0; k < test::kGatherVCases; ++k) {
        const std::string what =
            std::string(dtype_name(dt)) + " case " + std::to_string(k) + " root " + std::to_string(root);
        const GatherVResult got = c->gatherv(test::gatherv_input(dt, k, c->rank(), c->size()).to(gpu), root);
        if (c->rank() == root) {
          test::expect_gathered(got, dt, k, c->size(), what);
        } else {
          test::expect_empty_gather(got, dt, gpu, what);
        }
      }
    }
  }
}

TEST(NcclCommunicatorRanks, VGatherDTypeMismatchIsNamed) {
  REQUIRE_MULTI_RANK_NCCL(c);
  const Device gpu = Device::cuda(c->local_rank());
  const bool odd = c->rank() == 1;
  test::expect_error(
      [&] { c->all_gatherv(odd ? Tensor::zeros({5}, DType::kI64, gpu) : Tensor::zeros({3}, DType::kF32, gpu)); },
      {"desync", "rank 1 called all_gatherv #", "(5 x i64)", "rank 0 called all_gatherv #", "(3 x f32)"});
  const GatherVResult got = c->all_gatherv(test::gatherv_input(DType::kF32, 0, c->rank(), c->size()).to(gpu));
  test::expect_gathered(got, DType::kF32, 0, c->size(), "after the desync error");
}

// Host tensors (the trainer's step report and metric sums) travel over the MPI control
// communicator; a call mixing host and device tensors is refused, naming both devices.
TEST(NcclCommunicator, HostTensorsTravelOverMpi) {
  REQUIRE_NCCL_GPU();
  std::unique_ptr<Communicator> c = make_nccl_communicator(0);
  Tensor host = test::random_tensor({5}, DType::kF64, 3, -2, 2);
  const Tensor expected = host.clone();
  c->all_reduce(host, ReduceOp::kSum)->wait();
  EXPECT_EQ(test::max_abs_diff(host, expected), 0.0);
  c->broadcast(host, 0)->wait();
  EXPECT_EQ(test::max_abs_diff(host, expected), 0.0);
  const GatherVResult g = c->all_gatherv(host);
  EXPECT_TRUE(g.data.device().is_cpu());
  EXPECT_EQ(test::max_abs_diff(g.data, expected), 0.0);
  Tensor device_out = Tensor::empty({5}, DType::kF64, Device::cuda(0));
  test::expect_error([&] { c->all_gather(host, device_out); }, {"nccl", "cuda:0", "cpu"});
}

}  // namespace
}  // namespace attncamp
