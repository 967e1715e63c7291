// Progress reporting for long runs: on a terminal, one self-updating line per
// step (step, loss, lr, images/s, ETA); otherwise (a batch job's log, a pipe) plain
// lines every N steps or every T seconds, so logs show progress and stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace attncamp::launch {

class Progress {
 public:
  // When stderr is not a terminal, a plain line every `every_steps` steps, or with 0 every
  // `every_seconds` seconds (0 too: none between epochs). print false (ranks other than 0) only
  // counts, for epoch_rate(). `output` overrides the terminal check (tests).
  enum class Output { kDetect, kTerminal, kPlain };
  Progress(int64_t total_steps, int64_t every_steps, double every_seconds, bool print = true,
           Output output = Output::kDetect);
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
  double every_seconds_;
  int64_t epoch_ = 0, num_epochs_ = 0, epoch_images_ = 0, epoch_first_step_ = -1;
  Clock::time_point epoch_start_, last_print_;
  bool line_open_ = false;
};

}  // namespace attncamp::launch
