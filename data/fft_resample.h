// FFT resampling of continuous signals, the method of MNE-Python's raw.resample(sfreq) (MNE 1.x,
// mne.filter.resample with window='boxcar', npad='auto', pad='reflect_limited'): the signal is
// padded to a power-of-two length by reflection about its end points, its spectrum truncated (or
// zero-extended) to the new length and transformed back. Any rational or real ratio works;
// lengths follow Python's round-half-even, so results match MNE sample for sample.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace attncamp::data {

// Resamples signals of `n` samples from `from_hz` to `to_hz` (both > 0). One instance serves any
// number of channels of that length; apply() is not thread-safe (it owns FFT buffers), so use one
// instance per thread. Construction is thread-safe.
class FftResampler {
 public:
  FftResampler(int64_t n, double from_hz, double to_hz);
  ~FftResampler();
  FftResampler(const FftResampler&) = delete;
  FftResampler& operator=(const FftResampler&) = delete;

  int64_t input_length() const { return n_; }
  // round(n * to_hz / from_hz), at least 1.
  int64_t output_length() const { return final_len_; }
  // Reads x[0..n), writes y[0..output_length()).
  void apply(const double* x, double* y);

 private:
  struct Plans;
  int64_t n_, final_len_;
  int64_t pad_left_, pad_right_;  // reflect-limited padding to the FFT length
  int64_t fft_len_, new_len_;     // padded length and its resampled length
  int64_t trim_left_;             // samples dropped from the start of the resampled, padded signal
  std::unique_ptr<Plans> plans_;
};

// Python's round() on a double (half to even), as MNE computes lengths and indices.
int64_t round_half_even(double v);

}  // namespace attncamp::data
