// CLI11-based command line. Each subcommand loads and validates its inputs
// before doing any work, so bad input ends the run with one clear line.
#include "launch/cli.h"

#include <cblas.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "data/checkpoint.h"
#include "data/classification.h"
#include "data/fashion_mnist.h"
#include "launch/bench.h"
#include "launch/config.h"
#include "launch/precision.h"
#include "launch/trainer.h"
#include "runtime/process.h"

namespace attncamp::launch {

namespace {

int cmd_convert_fashion_mnist(const std::string& input, const std::string& output) {
  const data::ConvertSummary s = data::convert_fashion_mnist(input, output);
  std::printf("converted Fashion-MNIST from %s: %ld samples written, %ld skipped\n", input.c_str(),
              static_cast<long>(s.written), static_cast<long>(s.skipped));
  for (const auto& o : s.outputs) std::printf("  wrote %s\n", o.c_str());
  return 0;
}

int cmd_eval(const config::Experiment& e, const std::string& checkpoint, const std::string& data_path) {
  set_cpu_threads(e.trainer().threads());
  const std::string path = data_path.empty() ? e.data().test_path() : data_path;
  ATTNCAMP_CHECK(!path.empty(), "no dataset to evaluate: set data.test_path or pass --data");
  const data::ClassificationData d = data::load_classification(path);
  const auto model = make_model(e, d.num_classes, precision_from(e, "config"));
  load_parameters(data::read_checkpoint(checkpoint), checkpoint, *model);
  const EvalResult r = evaluate(*model, d, e.trainer().eval_batch_size(), e.trainer().eval_limit());
  std::printf("eval %s: %ld samples, top-1 %.2f%%, top-5 %.2f%%, loss %.4f\n", path.c_str(), static_cast<long>(r.count),
              100 * r.top1, 100 * r.top5, r.loss);
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"attncamp: data-parallel training of attention models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "attncamp 0.1.0");

  auto* convert = app.add_subcommand("convert", "convert a dataset into attncamp's HDF5 schemas");
  convert->require_subcommand(1);
  auto* fmnist =
      convert->add_subcommand("fashion-mnist", "Fashion-MNIST IDX files -> classification/1 train.h5, test.h5");
  std::string fm_input = data::default_fashion_mnist_dir(), fm_output;
  fmnist->add_option("--input", fm_input, "folder with the IDX .gz files")->capture_default_str();
  fmnist->add_option("--output", fm_output, "output folder")->required();

  std::string config_path, resume, checkpoint, data_path, device;
  std::vector<std::string> overrides;
  int threads = -1;
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--config", config_path, "experiment config (protobuf text)")->required();
    cmd->add_option("--set", overrides, "override a config field, e.g. --set trainer.max_steps=20")
        ->allow_extra_args(false);
    cmd->add_option("--threads", threads, "CPU threads (overrides trainer.threads)");
  };
  auto* train = app.add_subcommand("train", "train a model");
  add_common(train);
  train->add_option("--resume", resume, "'auto' (output_dir/checkpoint.h5 if present) or a checkpoint path");
  train->add_option("--device", device, "cpu or cuda (overrides trainer.device)");

  auto* eval = app.add_subcommand("eval", "evaluate a checkpoint on a dataset");
  add_common(eval);
  eval->add_option("--checkpoint", checkpoint, "checkpoint file")->required();
  eval->add_option("--data", data_path, "classification/1 file (default data.test_path)");

  auto* bench = app.add_subcommand("bench", "benchmarks");
  bench->require_subcommand(1);
  auto* bench_train_cmd = bench->add_subcommand("train", "training-step throughput on synthetic data");
  add_common(bench_train_cmd);
  int64_t steps = 50, warmup = 10;
  bench_train_cmd->add_option("--steps", steps, "timed steps")->capture_default_str();
  bench_train_cmd->add_option("--warmup", warmup, "untimed warmup steps")->capture_default_str();

  auto* bench_ar = bench->add_subcommand("allreduce", "all-reduce bandwidth sweep (run under mpirun/srun)");
  std::string ar_device = "cpu", ar_backend = "auto";
  int64_t ar_max = int64_t{256} << 20;
  int ar_iters = 20;
  bench_ar->add_option("--device", ar_device, "cpu (MPI backend) or cuda (NCCL backend)")->capture_default_str();
  bench_ar->add_option("--backend", ar_backend, "auto (from the launcher), single, mpi or nccl")->capture_default_str();
  bench_ar->add_option("--max-bytes", ar_max, "largest message in bytes")->capture_default_str();
  bench_ar->add_option("--iters", ar_iters, "timed iterations per size (x4 below 1 MiB)")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  auto load = [&]() {
    std::vector<std::string> ov = overrides;
    if (threads >= 0) ov.push_back("trainer.threads=" + std::to_string(threads));
    if (!device.empty()) ov.push_back("trainer.device=" + device);
    return load_config(config_path, ov);
  };
  if (fmnist->parsed()) return cmd_convert_fashion_mnist(fm_input, fm_output);
  if (train->parsed()) {
    Trainer(load(), config_path).run(resume);
    return 0;
  }
  if (eval->parsed()) return cmd_eval(load(), checkpoint, data_path);
  if (bench_train_cmd->parsed()) {
    const config::Experiment e = load();
    const BenchResult r = bench_train(e, steps, warmup);
    if (process_rank() > 0) return 0;
    std::printf("bench train %s: batch %d per rank, %d rank(s), %ld steps, %.2f ms/step\n", config_path.c_str(),
                e.trainer().batch_size(), r.world, static_cast<long>(steps), r.ms_per_step);
    std::printf("blas core: %s, threads: %d\n", openblas_get_corename(), openblas_get_num_threads());
    if (r.world > 1) std::printf("all-reduce wait: %.1f%% of step time\n", 100 * r.comm_wait_fraction);
    std::printf("attncamp images/s: %.1f\n", r.images_per_second);
    return 0;
  }
  if (bench_ar->parsed()) {
    bench_allreduce(ar_device, ar_backend, ar_max, ar_iters);
    return 0;
  }
  return 1;
}

}  // namespace attncamp::launch
