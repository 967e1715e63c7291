// NCCL backend on one GPU with one rank (NCCL needs one GPU per rank, and the GPU machines have
// one): every collective runs through NCCL on device buffers and gives the exact one-rank result;
// values come back to the host for checking. Skips, saying why, without NCCL or a GPU.
#include <gtest/gtest.h>

#include "runtime/communicator.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

#define REQUIRE_NCCL_GPU() \
  ATTNCAMP_REQUIRE_GPU();  \
  if (!nccl_compiled()) GTEST_SKIP() << "this build has no NCCL backend (ATTNCAMP_NCCL=OFF or no MPI)"

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

TEST(NcclCommunicator, RejectsHostTensors) {
  REQUIRE_NCCL_GPU();
  std::unique_ptr<Communicator> c = make_nccl_communicator(0);
  Tensor host = Tensor::zeros({4});
  test::expect_error([&] { c->all_reduce(host, ReduceOp::kSum); }, {"nccl", "cuda:0", "cpu"});
}

}  // namespace
}  // namespace attncamp
