// EEG recordings (EDF, EDF+, BDF, GDF via libbiosig) to the eeg/1 schema: channel selection,
// zero-phase Butterworth band-pass of each continuous run, optional common average reference
// and resampling, then epochs around annotated events; plus the eeg/1 reader.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/convert.h"
#include "runtime/tensor.h"

namespace attncamp::data {

// One continuous recording as read by libbiosig, in microvolts.
struct EegRecording {
  std::string path;
  double sample_rate_hz = 0;
  std::vector<std::string> channel_names;  // [C], labels trimmed of surrounding blanks
  std::vector<bool> is_voltage;            // [C]: physical unit is a volt multiple (EEG-like)
  std::vector<double> data;                // [C, S] row-major, microvolts
  int64_t num_samples = 0;                 // S
  // Events sorted by onset: name is the EDF+ annotation text or GDF event description, or the
  // decimal event type code when the file gives no description; onset in samples.
  std::vector<std::pair<std::string, int64_t>> events;
};

// Reads all channels and events of `path` with libbiosig, scaling every volt-valued channel to
// microvolts (V, mV, uV, nV). Throws "PATH: ..." when libbiosig cannot open or read it, or when
// channels have different sampling rates.
EegRecording read_eeg_recording(const std::string& path);

struct EegOptions {
  // Event name -> class name ("T1=left,T2=right"); classes are numbered in order of first
  // appearance on the right-hand side; several event names may share one class.
  std::vector<std::pair<std::string, std::string>> events;
  double tmin_s = -0.5;  // epoch start relative to event onset, seconds
  double tmax_s = 4.0;   // epoch end (inclusive); T = round(tmax*fs) - round(tmin*fs) + 1
  // Band-pass edges in Hz; {0, 0} = no filter. Zero-phase Butterworth of order filter_order
  // (forward-backward, padded like MNE's raw.filter(method='iir')).
  double band_lo_hz = 0, band_hi_hz = 0;
  int filter_order = 4;
  // Output rate in Hz (0 = keep), any ratio to the file's rate: FFT resampling of each continuous
  // run as MNE's raw.resample(resample_hz) (data/fft_resample.h), after filtering and re-referencing.
  double resample_hz = 0;
  bool car = false;                   // subtract the mean over the selected channels per sample
  std::vector<std::string> channels;  // names to keep, in this order; empty = all volt channels
  int subject = -1;                   // -1: from the file name (S001R04 -> 1)
  int run = -1;                       // -1: from the file name (S001R04 -> 4)
};

// Parses "T1=left,T2=right" into EegOptions::events; throws naming the bad item.
std::vector<std::pair<std::string, std::string>> parse_eeg_event_map(const std::string& text);
// Subject and run from a file name like ".../S001R04.edf"; -1 for each part that is absent.
std::pair<int, int> eeg_subject_run_from_name(const std::string& path);

// Converts recordings into one eeg/1 file `output` (written atomically): /signals float32
// [N,C,T] microvolts, /labels int32 [N], /subjects int32 [N], /runs int32 [N],
// /channel_names [C], /class_names [K]; root attributes attncamp_schema = "eeg/1",
// num_classes, sample_rate_hz, tmin_s, band_hz ([lo, hi], [0, 0] if unfiltered), car (0/1),
// source_files (newline-separated). Epochs that do not fit inside the recording are dropped
// (like MNE) and listed in summary.skipped_samples without counting as skipped. Per-file
// errors (unreadable file, missing channel, NaN/Inf sample, no matching events) follow
// convert.on_error: fail throws naming the file; skip leaves the file out and records it.
ConvertSummary convert_eeg(const std::vector<std::string>& files, const std::string& output, const EegOptions& options,
                           const ConvertOptions& convert = {});

// Whole eeg/1 file in memory.
struct EegDataset {
  Tensor signals;                          // f32 [N, C, T], microvolts
  Tensor labels;                           // i32 [N]
  Tensor subjects;                         // i32 [N]
  Tensor runs;                             // i32 [N]
  std::vector<std::string> channel_names;  // [C]
  std::vector<std::string> class_names;    // [K]
  double sample_rate_hz = 0;
  double tmin_s = 0;
  std::vector<double> band_hz;  // [lo, hi]
};

// Reads and validates an eeg/1 file (schema, shapes, labels in [0, K)); throws naming the
// file and the dataset or attribute at fault.
EegDataset read_eeg(const std::string& path);

}  // namespace attncamp::data
