// Progress line rendering (terminal detection via isatty on stderr).
#include "launch/progress.h"

#include <unistd.h>

#include <cstdio>

namespace attncamp::launch {

Progress::Progress(int64_t total_steps, int64_t every_steps, double every_seconds, bool print, Output output)
    : tty_(print && (output == Output::kDetect ? isatty(fileno(stderr)) != 0 : output == Output::kTerminal)),
      total_steps_(total_steps),
      every_steps_(print ? every_steps : 0),
      every_seconds_(print ? every_seconds : 0) {}

void Progress::begin_epoch(int64_t epoch, int64_t num_epochs) {
  epoch_ = epoch;
  num_epochs_ = num_epochs;
  epoch_images_ = 0;
  epoch_first_step_ = -1;
  epoch_start_ = Clock::now();
  last_print_ = epoch_start_;
}

double Progress::epoch_rate() const {
  const double secs = std::chrono::duration<double>(Clock::now() - epoch_start_).count();
  return secs > 0 ? static_cast<double>(epoch_images_) / secs : 0.0;
}

std::string Progress::format_duration(double s) {
  if (s < 0 || s > 1e7) return "--:--";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", static_cast<long>(t / 3600), static_cast<long>(t / 60 % 60),
                  static_cast<long>(t % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%02ld:%02ld", static_cast<long>(t / 60), static_cast<long>(t % 60));
  }
  return buf;
}

void Progress::step(int64_t global_step, double loss, double lr, int64_t images) {
  if (epoch_first_step_ < 0) epoch_first_step_ = global_step;
  epoch_images_ += images;
  const auto now = Clock::now();
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  const int64_t done_here = global_step - epoch_first_step_ + 1;
  const double step_time = done_here > 0 ? elapsed / static_cast<double>(done_here) : 0;
  const double eta = step_time * static_cast<double>(total_steps_ - global_step - 1);
  const double rate = elapsed > 0 ? static_cast<double>(epoch_images_) / elapsed : 0;
  char line[256];
  std::snprintf(line, sizeof(line), "epoch %ld/%ld step %ld/%ld loss %.4f lr %.2e %.0f img/s ETA %s",
                static_cast<long>(epoch_ + 1), static_cast<long>(num_epochs_), static_cast<long>(global_step + 1),
                static_cast<long>(total_steps_), loss, lr, rate, format_duration(eta).c_str());
  if (tty_) {
    if (std::chrono::duration<double>(now - last_print_).count() < 0.1 && global_step + 1 < total_steps_) return;
    last_print_ = now;
    std::fprintf(stderr, "\r\033[K%s", line);
    std::fflush(stderr);
    line_open_ = true;
  } else if (every_steps_ > 0
                 ? (global_step + 1) % every_steps_ == 0
                 : every_seconds_ > 0 && std::chrono::duration<double>(now - last_print_).count() >= every_seconds_) {
    last_print_ = now;
    std::fprintf(stderr, "%s\n", line);
    std::fflush(stderr);
  }
}

void Progress::finish_line() {
  if (line_open_) {
    std::fprintf(stderr, "\n");
    line_open_ = false;
  }
}

}  // namespace attncamp::launch
