// Butterworth IIR design (second-order sections, as scipy.signal.butter(output='sos')) and
// zero-phase forward-backward filtering (scipy.signal.sosfiltfilt with odd padding and
// sosfilt_zi initial conditions), so EEG band-passes match MNE's raw.filter(method='iir').
#pragma once

#include <cstdint>
#include <vector>

namespace attncamp::data {

// One biquad: y = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2) x (a0 normalised to 1).
struct Biquad {
  double b0 = 1, b1 = 0, b2 = 0, a1 = 0, a2 = 0;
};
using Sos = std::vector<Biquad>;

// Digital Butterworth band-pass of prototype order `order` (2*order poles, `order` sections)
// between lo_hz and hi_hz for sampling rate fs_hz (0 < lo < hi < fs/2). Same transfer function
// as scipy.signal.butter(order, [lo, hi], btype='bandpass', fs=fs, output='sos') (bilinear
// transform with pre-warping; the sections may be paired differently).
Sos butter_bandpass(int order, double lo_hz, double hi_hz, double fs_hz);
// Digital Butterworth low-pass of order `order` with cut-off hz (0 < hz < fs/2);
// ceil(order/2) sections, as scipy.signal.butter(order, hz, fs=fs, output='sos').
Sos butter_lowpass(int order, double hz, double fs_hz);

// Causal filtering of x[0..n) in place through all sections (direct form II transposed, like
// scipy.signal.sosfilt). `state` is [sections][2] and is updated (pass zeros to start at rest).
void sos_filter(const Sos& sos, double* x, int64_t n, std::vector<double>& state);
// Steady-state initial state for a unit step input, [sections][2] (scipy.signal.sosfilt_zi).
std::vector<double> sos_filter_zi(const Sos& sos);
// Number of samples until the impulse response decays below 0.1% of its peak, computed in
// chunks of 1000 samples exactly like mne.filter.estimate_ringing_samples (MNE's padlen).
int64_t estimate_ringing_samples(const Sos& sos, int64_t max_try = 100000);
// Default padlen of scipy.signal.sosfiltfilt: 3 * (2 * sections + 1 - trailing zero count).
int64_t sosfiltfilt_default_padlen(const Sos& sos);

// Zero-phase filtering of x[0..n) in place: odd extension by padlen samples at both ends
// (padlen must be < n; 0 disables padding), forward pass from sosfilt_zi * first sample,
// backward pass from sosfilt_zi * last output, then the extension is cut off. Matches
// scipy.signal.sosfiltfilt(sos, x, padtype='odd', padlen=padlen).
void sos_filtfilt(const Sos& sos, double* x, int64_t n, int64_t padlen);

}  // namespace attncamp::data
