// Progress reporting for long runs: on a terminal, one self-updating line per
// step (step, loss, images/s, ETA); otherwise plain lines (per epoch, or every
// N steps when asked), so logs stay readable in batch jobs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace attncamp::launch {

class Progress {
 public:
  // every_steps: plain-line interval when not a terminal (0 = none between epochs). print false
  // (ranks other than 0) only counts, for epoch_rate().
  Progress(int64_t total_steps, int64_t every_steps, bool print = true);
  void begin_epoch(int64_t epoch, int64_t num_epochs);
  void step(int64_t global_step, double loss, double lr, int64_t images);
  // Ends the self-updating line (if any) before other output.
  void finish_line();
  // Images per second since the start of the epoch.
  double epoch_rate() const;
  static std::string format_duration(double seconds);

 private:
  using Clock = std::chrono::steady_clock;
  bool tty_;
  int64_t total_steps_, every_steps_;
  int64_t epoch_ = 0, num_epochs_ = 0, epoch_images_ = 0, epoch_first_step_ = -1;
  Clock::time_point epoch_start_, last_print_;
  bool line_open_ = false;
};

}  // namespace attncamp::launch
