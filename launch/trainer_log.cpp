// What a TrainingRun reports: rank 0 prints the run's summary lines and writes metrics.jsonl (one
// JSON object per step and per epoch) and TensorBoard events; with trainer.log_every_rank each
// rank also writes its own plain log (rank<N>.log) of its part of every step's loss.
#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "launch/trainer_internal.h"
#include "ops/attention_lab.h"

namespace attncamp::launch {

namespace fs = std::filesystem;

namespace {

std::string fmt(const char* format, double a, double b = 0, double c = 0, double d = 0) {
  char buf[512];
  std::snprintf(buf, sizeof(buf), format, a, b, c, d);
  return buf;
}

}  // namespace

void TrainingRun::announce() const {
  if (!lead_) return;
  std::fprintf(stderr,
               "training %s: %s, %ld parameters, %ld samples, %s, %ld steps/epoch, %ld epochs, %s %s, %s backend, %d "
               "threads\n",
               e_.name().c_str(), task_->model().kind().c_str(), static_cast<long>(task_->model().params().numel()),
               static_cast<long>(n_), plan_.str().c_str(), static_cast<long>(steps_per_epoch_),
               static_cast<long>(epochs_), prec_.device.str().c_str(), prec_.name.c_str(), comm_->backend().c_str(),
               omp_get_max_threads());
}

void TrainingRun::open_logs() {
  if (lead_) {
    events_ = std::make_unique<EventWriter>(out_dir_);
    std::ofstream metrics_log(metrics_path_, std::ios::app);
    ATTNCAMP_CHECK(metrics_log.good(), "cannot write ", metrics_path_);
    metrics_log_ = std::move(metrics_log);
  }
  if (e_.trainer().log_every_rank()) {
    const std::string path = (fs::path(out_dir_) / ("rank" + std::to_string(comm_->rank()) + ".log")).string();
    std::ofstream rank_log(path, std::ios::app);
    ATTNCAMP_CHECK(rank_log.good(), "cannot write ", path);
    rank_log_ = std::move(rank_log);
  }
}

// The step just completed (st_.step): its mean loss over the global batch and learning rate;
// rank_loss_sum is this rank's sum of per-sample losses.
void TrainingRun::log_step(double loss, double lr, double rank_loss_sum) {
  if (lead_ && events_) {
    metrics_log_ << "{\"kind\":\"step\",\"step\":" << st_.step << fmt(",\"loss\":%.17g,\"lr\":%.9g}", loss, lr) << "\n";
    events_->scalar("train/loss", st_.step, loss);
    events_->scalar("train/lr", st_.step, lr);
  }
  if (rank_log_.is_open()) {
    rank_log_ << "step " << st_.step << " rank_loss " << fmt("%.9g", rank_loss_sum) << " global_loss "
              << fmt("%.9g", loss) << "\n";
  }
}

// Rank 0, after a completed epoch (st_.step is its last step).
void TrainingRun::report_epoch(const EpochRecord& rec) {
  const std::string eval = rec.eval.empty() ? "" : ", " + task_->summary(rec.eval);
  std::printf("epoch %ld/%ld: train loss %.4f%s, %.0f img/s\n", static_cast<long>(rec.epoch),
              static_cast<long>(epochs_), rec.train_loss, eval.c_str(), rec.images_per_second);
  std::fflush(stdout);
  std::string line = "{\"kind\":\"epoch\",\"epoch\":" + std::to_string(rec.epoch) +
                     ",\"step\":" + std::to_string(st_.step) + fmt(",\"train_loss\":%.9g", rec.train_loss);
  for (const auto& [name, value] : rec.eval.metrics) line += ",\"" + name + "\":" + fmt("%.9g", value);
  metrics_log_ << line << fmt(",\"images_per_second\":%.1f}", rec.images_per_second) << "\n";
  events_->scalar("train/epoch_loss", st_.step, rec.train_loss);
  events_->scalar("train/images_per_second", st_.step, rec.images_per_second);
  for (const auto& [name, value] : rec.eval.metrics) events_->scalar(name, st_.step, value);
  events_->flush();
  metrics_log_.flush();
  report_autotune();
  std::fflush(stdout);
}

// ATTNCAMP_ATTENTION_AUTOTUNE=1: the attention tile shapes this rank's autotuner chose since the
// last report.
void TrainingRun::report_autotune() {
  const std::vector<std::string> tuned = ops::attention_autotune_report();
  for (; autotune_lines_ < tuned.size(); ++autotune_lines_) {
    std::printf("attention autotune: %s\n", tuned[autotune_lines_].c_str());
  }
}

// Rank 0's closing lines: the final evaluation and, with several ranks, the communication share.
void TrainingRun::report_final() const {
  if (!lead_) return;
  if (task_->has_evaluation()) {
    const EvalResult& f = result_.final_eval;
    std::printf("final evaluation: %s (%ld samples, %ld steps)\n", task_->summary(f).c_str(),
                static_cast<long>(f.count), static_cast<long>(st_.step));
  }
  if (comm_->size() > 1) {
    std::printf("data parallel: %d ranks, %d gradient buckets, %.1f%% of step time waiting for all-reduces\n",
                comm_->size(), reducer_->num_buckets(), 100 * result_.comm_wait_fraction);
  }
}

}  // namespace attncamp::launch
