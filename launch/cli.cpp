// CLI11-based command line. Each subcommand loads and validates its inputs
// before doing any work, so bad input ends the run with one clear line.
#include "launch/cli.h"

#include <cblas.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>

#include "data/checkpoint.h"
#include "data/classification.h"
#include "data/coco.h"
#include "data/coco_eval.h"
#include "data/detection.h"
#include "data/eeg.h"
#include "data/fashion_mnist.h"
#include "data/imagenet.h"
#include "data/inspect.h"
#include "data/loader.h"
#include "launch/bench.h"
#include "launch/config.h"
#include "launch/precision.h"
#include "launch/progress.h"
#include "launch/task.h"
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

// Progress of a converter on stderr: a self-updating line on a terminal, a line per 10% otherwise.
std::function<void(int64_t, int64_t)> converter_progress(const std::string& label) {
  const bool tty = isatty(fileno(stderr)) != 0;
  const auto start = std::chrono::steady_clock::now();
  auto last_decile = std::make_shared<int64_t>(-1);
  return [=](int64_t done, int64_t total) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
    const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0;
    const int64_t decile = total > 0 ? done * 10 / total : 10;
    if (!tty && decile == *last_decile) return;
    *last_decile = decile;
    std::fprintf(stderr, "%s%s %ld/%ld (%.0f%%) %.1f/s ETA %s%s", tty ? "\r\033[K" : "", label.c_str(),
                 static_cast<long>(done), static_cast<long>(total), total > 0 ? 100.0 * done / total : 100.0, rate,
                 Progress::format_duration(eta).c_str(), tty && done < total ? "" : "\n");
    std::fflush(stderr);
  };
}

// "converted X: N samples written, M skipped", the outputs, and every skipped sample with why.
void print_summary(const std::string& what, const data::ConvertSummary& s) {
  std::printf("converted %s: %ld samples written, %ld skipped\n", what.c_str(), static_cast<long>(s.written),
              static_cast<long>(s.skipped));
  for (const auto& o : s.outputs) std::printf("  wrote %s\n", o.c_str());
  for (const auto& k : s.skipped_samples) std::printf("  left out %s: %s\n", k.source.c_str(), k.reason.c_str());
}

data::OnError parse_on_error(const std::string& v) {
  if (v == "fail") return data::OnError::kFail;
  if (v == "skip") return data::OnError::kSkip;
  ATTNCAMP_THROW("--on-error must be fail or skip (got \"", v, "\")");
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin <= text.size() && !text.empty()) {
    const size_t end = text.find(',', begin);
    out.push_back(text.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

int cmd_inspect(const std::string& path, int64_t max_problems, bool decode) {
  data::InspectOptions o;
  o.max_problems = max_problems;
  o.decode_images = decode;
  const data::InspectReport r = data::inspect_file(path, o);
  std::fputs(data::format_report(r).c_str(), stdout);
  return r.valid() ? 0 : 1;
}

// Evaluates the checkpoint's parameters with the config's task on data.test_path (or `data_path`),
// split over the ranks of a launcher's job.
int cmd_eval(config::Experiment e, const std::string& checkpoint, const std::string& data_path) {
  set_cpu_threads(e.trainer().threads());
  if (!data_path.empty()) e.mutable_data()->set_test_path(data_path);
  const std::string& path = e.data().test_path();
  const bool synthetic = e.data().has_classification() && e.data().classification().synthetic_samples() > 0;
  ATTNCAMP_CHECK(!path.empty() || synthetic, "no dataset to evaluate: set data.test_path or pass --data");
  Precision prec = precision_from(e, "config");
  const std::unique_ptr<Communicator> comm = make_communicator(prec.device);
  if (!prec.device.is_cpu() && comm->size() > 1) prec.device = Device::cuda(comm->local_rank());
  const std::unique_ptr<Task> task = make_task(e, prec, TaskData::kEvalOnly);
  load_parameters(data::read_checkpoint(checkpoint), checkpoint, task->model());
  const EvalResult r = task->evaluate(comm.get());
  if (comm->rank() == 0) {
    std::printf("eval %s: %ld samples, %s\n", synthetic ? "synthetic" : path.c_str(), static_cast<long>(r.count),
                task->summary(r).c_str());
  }
  return 0;
}

// What eval-coco prints besides pycocotools' summary.
struct EvalCocoOutput {
  bool per_category = false;  // each category's AP
  bool raw_stats = false;     // "stats v0 ... v11", unrounded (%.17g), for scripts
  bool timings = false;       // seconds spent loading and evaluating, on stderr
};

// COCO bbox evaluation of a results JSON: pycocotools' twelve summary lines, then per-category AP
// on request. Detections of categories absent from the ground truth are left out (as pycocotools
// does), with a note on stderr.
int cmd_eval_coco(const std::string& gt_path, const std::string& dets_path, const EvalCocoOutput& out, int threads) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  const data::CocoEvalInputs in = data::load_coco_eval_inputs(gt_path, dets_path);
  const data::CocoEvalGroundTruth& gt = in.gt;
  const data::CocoEvalDetections& dets = in.dets;
  if (dets.unknown_category > 0) {
    std::fprintf(stderr,
                 "eval-coco: note: %ld detections of %s name a category_id not in %s (first: [%ld] category_id "
                 "%ld); left out, as pycocotools leaves them out\n",
                 static_cast<long>(dets.unknown_category), dets_path.c_str(), gt_path.c_str(),
                 static_cast<long>(dets.first_unknown_entry), static_cast<long>(dets.first_unknown_category));
  }
  const Clock::time_point loaded = Clock::now();
  const data::CocoEvalResult r = data::evaluate_coco_bbox(gt, dets, threads);
  std::printf("eval-coco: %ld detections, %ld images, %ld ground-truth boxes, %ld categories\n",
              static_cast<long>(dets.size()), static_cast<long>(gt.image_ids.size()),
              static_cast<long>(gt.num_annotations()), static_cast<long>(r.num_categories));
  const Clock::time_point evaluated = Clock::now();
  std::fputs(data::format_coco_summary(r).c_str(), stdout);
  if (out.raw_stats) {
    std::printf("stats");
    for (double v : r.stats) std::printf(" %.17g", v);
    std::printf("\n");
  }
  if (out.per_category) {
    std::printf("per-category AP @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] (-1: no ground truth)\n");
    std::printf("%12s  %6s  %s\n", "category_id", "AP", "name");
    for (int64_t k = 0; k < r.num_categories; ++k) {
      std::printf("%12ld  %6.3f  %s\n", static_cast<long>(r.category_ids[k]), r.category_ap(k),
                  r.category_names[k].c_str());
    }
  }
  if (out.timings) {
    auto secs = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
    std::fprintf(stderr, "eval-coco: time load %.3f s, evaluate (evaluate + accumulate + summarize) %.3f s\n",
                 secs(loaded - start), secs(evaluated - loaded));
  }
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

  auto* eeg = convert->add_subcommand("eeg", "EDF/EDF+/BDF/GDF recordings -> eeg/1 epochs around annotated events");
  std::vector<std::string> eeg_inputs;
  std::string eeg_output, eeg_events, eeg_band, eeg_channels, eeg_on_error = "fail";
  data::EegOptions eeg_opt;
  eeg->add_option("--input", eeg_inputs, "recordings (several go into one dataset)")->required();
  eeg->add_option("--output", eeg_output, "output eeg/1 file")->required();
  eeg->add_option("--events", eeg_events, "event=class pairs, e.g. T1=left,T2=right")->required();
  eeg->add_option("--tmin", eeg_opt.tmin_s, "epoch start relative to the event (s)")->capture_default_str();
  eeg->add_option("--tmax", eeg_opt.tmax_s, "epoch end relative to the event (s, inclusive)")->capture_default_str();
  eeg->add_option("--band", eeg_band, "zero-phase Butterworth band-pass LO,HI in Hz (e.g. 8,30)");
  eeg->add_option("--resample", eeg_opt.resample_hz,
                  "output rate in Hz (FFT resampling as MNE's raw.resample; 0 = keep)");
  eeg->add_flag("--car", eeg_opt.car, "common average reference");
  eeg->add_option("--channels", eeg_channels, "channels to keep, comma-separated (default: all EEG channels)");
  eeg->add_option("--subject", eeg_opt.subject, "subject id (default: from the file name, S001R04 -> 1)");
  eeg->add_option("--run", eeg_opt.run, "run id (default: from the file name, S001R04 -> 4)");
  eeg->add_option("--on-error", eeg_on_error, "per-file problems: fail or skip")->capture_default_str();
  int eeg_threads = 0;
  eeg->add_option("--threads", eeg_threads, "files processed at once (0 = all cores)")->capture_default_str();

  auto* coco = convert->add_subcommand("coco", "COCO instances JSON + image folder -> detection/1");
  std::string coco_json, coco_images, coco_output, coco_on_error = "fail";
  int coco_threads = 0;
  coco->add_option("--annotations", coco_json, "instances_*.json")->required();
  coco->add_option("--images", coco_images, "folder with the images the JSON names")->required();
  coco->add_option("--output", coco_output, "output detection/1 file")->required();
  coco->add_option("--on-error", coco_on_error, "per-image/annotation problems: fail or skip")->capture_default_str();
  coco->add_option("--threads", coco_threads, "reader threads (0 = all cores)")->capture_default_str();

  auto* imagenet = convert->add_subcommand(
      "imagenet", "folder of class folders (or a folder plus a label file) -> classification/1, JPEG or raw");
  data::ImagenetOptions in_opt;
  std::string in_on_error = "fail";
  int in_threads = 0;
  bool in_keep_aspect = false;
  imagenet->add_option("--input", in_opt.input_dir, "folder of <class>/ folders (ImageNet train/val layout)")
      ->required();
  imagenet->add_option("--labels", in_opt.labels_file,
                       "label file: TSV with header columns class_index (or label), file (or path) and optionally "
                       "wnid; paths relative to --input");
  imagenet->add_option("--output", in_opt.output, "output classification/1 file")->required();
  imagenet->add_option("--size", in_opt.size, "shorter side after resizing (pixels)")->capture_default_str();
  imagenet->add_flag("--crop", in_opt.crop, "centre-crop to size x size after resizing");
  imagenet->add_flag("--keep-aspect", in_keep_aspect, "keep the aspect ratio (no crop; needs --encoding jpeg)");
  imagenet->add_option("--encoding", in_opt.encoding, "jpeg (re-encoded) or raw (uint8 pixels, needs --crop)")
      ->capture_default_str();
  imagenet->add_option("--quality", in_opt.quality, "JPEG quality 1..100")->capture_default_str();
  imagenet->add_option("--num-classes", in_opt.num_classes, "number of classes (0 = from folders or labels)");
  imagenet->add_option("--threads", in_threads, "decode/resize/encode threads (0 = all cores)")->capture_default_str();
  imagenet->add_option("--on-error", in_on_error, "per-image problems: fail or skip")->capture_default_str();

  auto* inspect = app.add_subcommand("inspect", "describe an attncamp HDF5 file and check it against its schema");
  std::string inspect_path;
  int64_t inspect_max = 100;
  bool inspect_decode = false;
  inspect->add_option("FILE", inspect_path, "HDF5 file (classification/1, detection/1, eeg/1, checkpoint/1)")
      ->required();
  inspect->add_option("--max-problems", inspect_max, "problems listed (all are counted)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  inspect->add_flag("--decode", inspect_decode, "fully decode every JPEG/PNG row, not just check its signature");

  auto* eval_coco = app.add_subcommand(
      "eval-coco", "COCO bbox AP/AR of a results JSON against ground truth, equal to pycocotools' COCOeval");
  std::string ec_gt, ec_dets;
  EvalCocoOutput ec_out;
  int ec_threads = 0;
  eval_coco->add_option("--gt", ec_gt, "ground truth: COCO instances JSON or detection/1 file")->required();
  eval_coco->add_option("--dets", ec_dets, "detections: COCO results JSON [{image_id, category_id, bbox, score}]")
      ->required();
  eval_coco->add_flag("--per-category", ec_out.per_category, "also print each category's AP");
  eval_coco->add_flag("--raw-stats", ec_out.raw_stats, "also print the twelve numbers unrounded: stats v0 ... v11");
  eval_coco->add_flag("--timings", ec_out.timings, "print the seconds spent loading and evaluating (stderr)");
  eval_coco->add_option("--threads", ec_threads, "evaluation threads (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);

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
  eval->add_option("--data", data_path, "file to evaluate, of the config's task's schema (default data.test_path)");

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

  auto* bench_loader_cmd =
      bench->add_subcommand("loader", "input pipeline throughput: read, decode, augment and batch (images/s)");
  std::string bl_data;
  int bl_threads = 1;
  int64_t bl_batch = 64;
  double bl_seconds = 10;
  bench_loader_cmd->add_option("--data", bl_data, "classification/1 file (raw or jpeg)")->required();
  bench_loader_cmd->add_option("--threads", bl_threads, "worker threads")->capture_default_str();
  bench_loader_cmd->add_option("--batch", bl_batch, "batch size")->capture_default_str();
  bench_loader_cmd->add_option("--seconds", bl_seconds, "how long to run")->capture_default_str();

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
  if (inspect->parsed()) return cmd_inspect(inspect_path, inspect_max, inspect_decode);
  if (eval_coco->parsed()) return cmd_eval_coco(ec_gt, ec_dets, ec_out, ec_threads);
  if (coco->parsed()) {
    data::ConvertOptions conv;
    conv.on_error = parse_on_error(coco_on_error);
    conv.threads = coco_threads;
    conv.progress = converter_progress("coco images");
    const data::ConvertSummary s = data::convert_coco(coco_json, coco_images, coco_output, conv);
    const data::DetectionData d = data::load_detection(coco_output);
    print_summary("COCO " + coco_json, s);
    std::printf("  %ld images, %ld boxes, %ld classes\n", static_cast<long>(d.image_ids.size()),
                static_cast<long>(d.box_labels.size()), static_cast<long>(d.class_names.size()));
    return 0;
  }
  if (imagenet->parsed()) {
    ATTNCAMP_CHECK(!(in_keep_aspect && in_opt.crop), "--crop and --keep-aspect exclude each other");
    data::ConvertOptions conv;
    conv.on_error = parse_on_error(in_on_error);
    conv.threads = in_threads;
    conv.progress = converter_progress("images");
    print_summary("images from " + in_opt.input_dir, data::convert_imagenet(in_opt, conv));
    return 0;
  }
  if (eeg->parsed()) {
    eeg_opt.events = data::parse_eeg_event_map(eeg_events);
    if (!eeg_band.empty()) {
      const std::vector<std::string> b = split_commas(eeg_band);
      ATTNCAMP_CHECK(b.size() == 2, "--band must be LO,HI in Hz (got \"", eeg_band, "\")");
      eeg_opt.band_lo_hz = std::stod(b[0]);
      eeg_opt.band_hi_hz = std::stod(b[1]);
    }
    if (!eeg_channels.empty()) eeg_opt.channels = split_commas(eeg_channels);
    data::ConvertOptions conv;
    conv.on_error = parse_on_error(eeg_on_error);
    conv.threads = eeg_threads;
    conv.progress = converter_progress("eeg files");
    print_summary("EEG from " + std::to_string(eeg_inputs.size()) + " file(s)",
                  data::convert_eeg(eeg_inputs, eeg_output, eeg_opt, conv));
    return 0;
  }
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
  if (bench_loader_cmd->parsed()) {
    const data::LoaderBenchResult r = data::bench_loader(bl_data, bl_threads, bl_batch, bl_seconds);
    std::printf("bench loader %s: encoding %s, threads %d, batch %ld, %ld images in %.2f s, %.1f img/s\n",
                bl_data.c_str(), r.encoding.c_str(), r.threads, static_cast<long>(r.batch), static_cast<long>(r.images),
                r.seconds, r.images_per_second);
    return 0;
  }
  if (bench_ar->parsed()) {
    bench_allreduce(ar_device, ar_backend, ar_max, ar_iters);
    return 0;
  }
  return 1;
}

}  // namespace attncamp::launch
