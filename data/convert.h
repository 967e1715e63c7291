// What every converter shares: options (per-sample error policy, threads, progress) and the
// summary it returns (samples written, samples skipped and why, files written).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace attncamp::data {

// --on-error: fail (default) stops at the first bad sample with an error naming it and writes
// nothing; skip leaves the sample out, counts it and lists it in the summary.
enum class OnError { kFail, kSkip };

struct ConvertOptions {
  OnError on_error = OnError::kFail;
  int threads = 0;  // worker threads for decoding/encoding (0 = all cores)
  // Called now and then with (samples done, total) from the calling thread; may be empty.
  std::function<void(int64_t done, int64_t total)> progress;
};

struct SkippedSample {
  std::string source;  // file, or file plus record/index
  std::string reason;  // the error message
};

struct ConvertSummary {
  int64_t written = 0;  // samples written, all outputs together
  int64_t skipped = 0;  // samples left out (--on-error skip)
  std::vector<SkippedSample> skipped_samples;
  std::vector<std::string> outputs;  // files written, in order
};

}  // namespace attncamp::data
