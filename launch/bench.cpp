// `attncamp bench train` (the trainer's own setup and step, TrainingRun::bench, on synthetic data
// of the model's shape) and `attncamp bench allreduce`.
#include "launch/bench.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "launch/precision.h"
#include "launch/trainer_internal.h"
#include "runtime/communicator.h"
#include "runtime/cuda_context.h"

namespace attncamp::launch {

BenchResult bench_train(const config::Experiment& e, int64_t steps, int64_t warmup) {
  ATTNCAMP_CHECK(steps > 0, "bench train: --steps must be > 0 (got ", steps, ")");
  ATTNCAMP_CHECK(warmup >= 0, "bench train: --warmup must be >= 0 (got ", warmup, ")");
  const auto& tc = e.trainer();
  CommOptions copt;
  copt.timeout_s = tc.collective_timeout_s();
  copt.check_consistency = !tc.skip_collective_checks();
  const std::unique_ptr<Communicator> comm = make_communicator(precision_from(e, "config").device, copt);
  const config::Experiment b = with_synthetic_data(e, batch_plan(tc, comm->size(), 0).global_batch);
  return TrainingRun(b, "bench").bench(steps, warmup, comm.get());
}

void bench_allreduce(const std::string& device_text, const std::string& backend, int64_t max_bytes, int iters) {
  const Device device = parse_device(device_text, "--device");
  std::unique_ptr<Communicator> comm;
  if (backend == "auto") {
    comm = make_communicator(device);
  } else if (backend == "single") {
    comm = make_single_communicator();
  } else if (backend == "mpi") {
    comm = make_mpi_communicator();
  } else if (backend == "nccl") {
    comm = make_nccl_communicator(-1);
  } else {
    ATTNCAMP_THROW("--backend must be auto, single, mpi or nccl (got \"", backend, "\")");
  }
  const Device dev = device.is_cpu() || comm->size() == 1 ? device : Device::cuda(comm->local_rank());
  const int p = comm->size();
  if (comm->rank() == 0) {
    std::printf("# all_reduce sum f32, backend %s, %d rank(s), device %s\n", comm->backend().c_str(), p,
                dev.str().c_str());
    std::printf("%12s %12s %6s %12s %10s %10s\n", "size(B)", "count", "type", "time(us)", "algbw(GB/s)", "busbw(GB/s)");
  }
  for (int64_t bytes = 8; bytes <= max_bytes; bytes *= 2) {
    const int64_t count = bytes / 4;
    Tensor x = Tensor::zeros({count}, DType::kF32, dev);
    const int n = bytes <= (1 << 20) ? iters * 4 : iters;
    for (int i = 0; i < 3; ++i) comm->all_reduce(x, ReduceOp::kSum)->wait();
    comm->barrier();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) comm->all_reduce(x, ReduceOp::kSum)->wait();
    if (!dev.is_cpu()) cuda_synchronize(dev.index);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / n;
    const double algbw = static_cast<double>(bytes) / secs / 1e9;
    const double busbw = p > 1 ? algbw * 2.0 * (p - 1) / p : 0;
    if (comm->rank() == 0) {
      std::printf("%12ld %12ld %6s %12.1f %10.3f %10.3f\n", static_cast<long>(bytes), static_cast<long>(count), "f32",
                  secs * 1e6, algbw, busbw);
    }
  }
}

}  // namespace attncamp::launch
