// FftResampler over FFTW (double precision). Plans are made once per instance with
// FFTW_ESTIMATE (no timing runs); FFTW's planner is not thread-safe, so planning and plan
// destruction hold one process-wide lock, while executing plans is safe from any thread.
#include "data/fft_resample.h"

#include <fftw3.h>

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <mutex>

#include "runtime/error.h"

namespace attncamp::data {

namespace {
std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

int64_t round_half_even(double v) {
  // nearbyint rounds in the current mode; round-to-nearest-even is the default and is what
  // Python's round() does.
  const int saved = std::fegetround();
  std::fesetround(FE_TONEAREST);
  const double r = std::nearbyint(v);
  std::fesetround(saved);
  return static_cast<int64_t>(r);
}

struct FftResampler::Plans {
  double* in = nullptr;          // [fft_len]
  fftw_complex* spec = nullptr;  // [fft_len / 2 + 1]
  fftw_complex* cut = nullptr;   // [new_len / 2 + 1]
  double* out = nullptr;         // [new_len]
  fftw_plan forward = nullptr, backward = nullptr;
  ~Plans() {
    std::lock_guard<std::mutex> lock(planner_mutex());
    if (forward != nullptr) fftw_destroy_plan(forward);
    if (backward != nullptr) fftw_destroy_plan(backward);
    fftw_free(in);
    fftw_free(spec);
    fftw_free(cut);
    fftw_free(out);
  }
};

FftResampler::FftResampler(int64_t n, double from_hz, double to_hz) : n_(n) {
  ATTNCAMP_CHECK(n >= 1, "resampling needs at least one sample, got ", n);
  ATTNCAMP_CHECK(from_hz > 0 && to_hz > 0 && std::isfinite(from_hz) && std::isfinite(to_hz),
                 "resampling needs positive finite rates, got ", from_hz, " Hz -> ", to_hz, " Hz");
  const double ratio = to_hz / from_hz;
  final_len_ = std::max<int64_t>(round_half_even(ratio * static_cast<double>(n)), 1);
  // npad='auto': pad to the next power of two above n + 2 * min(n / 8, 100).
  const int64_t min_add = std::min<int64_t>(n / 8, 100) * 2;
  const int64_t target = int64_t{1} << static_cast<int>(std::ceil(std::log2(static_cast<double>(n + min_add))));
  const int64_t total = target - n;
  pad_left_ = total / 2;
  pad_right_ = total - pad_left_;
  fft_len_ = n + total;
  new_len_ = std::max<int64_t>(round_half_even(ratio * static_cast<double>(fft_len_)), 1);
  trim_left_ = round_half_even(ratio * static_cast<double>(pad_left_));
  ATTNCAMP_CHECK(trim_left_ >= 0 && trim_left_ + final_len_ <= new_len_, "resampling ", n, " samples from ", from_hz,
                 " Hz to ", to_hz, " Hz: inconsistent lengths (internal error)");

  plans_ = std::make_unique<Plans>();
  Plans& p = *plans_;
  p.in = fftw_alloc_real(static_cast<size_t>(fft_len_));
  p.spec = fftw_alloc_complex(static_cast<size_t>(fft_len_ / 2 + 1));
  p.cut = fftw_alloc_complex(static_cast<size_t>(new_len_ / 2 + 1));
  p.out = fftw_alloc_real(static_cast<size_t>(new_len_));
  ATTNCAMP_CHECK(p.in && p.spec && p.cut && p.out, "out of memory for FFT buffers of ", fft_len_, " samples");
  std::lock_guard<std::mutex> lock(planner_mutex());
  p.forward = fftw_plan_dft_r2c_1d(static_cast<int>(fft_len_), p.in, p.spec, FFTW_ESTIMATE);
  p.backward = fftw_plan_dft_c2r_1d(static_cast<int>(new_len_), p.cut, p.out, FFTW_ESTIMATE);
  ATTNCAMP_CHECK(p.forward && p.backward, "FFTW could not plan transforms of ", fft_len_, " and ", new_len_,
                 " samples");
}

FftResampler::~FftResampler() = default;

void FftResampler::apply(const double* x, double* y) {
  Plans& p = *plans_;
  const int64_t n = n_;
  // Reflect-limited padding: 2*x[0] - x[k] on the left, 2*x[n-1] - x[n-1-k] on the right, zeros
  // where the signal is shorter than the padding.
  double* in = p.in;
  int64_t at = 0;
  for (int64_t k = pad_left_; k >= 1; --k) in[at++] = k <= n - 1 ? 2 * x[0] - x[k] : 0.0;
  std::copy(x, x + n, in + at);
  at += n;
  for (int64_t k = 1; k <= pad_right_; ++k) in[at++] = k <= n - 1 ? 2 * x[n - 1] - x[n - 1 - k] : 0.0;
  fftw_execute(p.forward);

  const bool shorter = new_len_ < fft_len_;
  const int64_t use_len = shorter ? new_len_ : fft_len_;
  const int64_t have = fft_len_ / 2 + 1, want = new_len_ / 2 + 1;
  const double scale = static_cast<double>(new_len_) / static_cast<double>(fft_len_) / static_cast<double>(new_len_);
  for (int64_t k = 0; k < want; ++k) {
    double re = 0, im = 0;
    if (k < have) {
      re = p.spec[k][0];
      im = p.spec[k][1];
      if (use_len % 2 == 0 && k == use_len / 2) {
        re *= shorter ? 2.0 : 0.5;
        im *= shorter ? 2.0 : 0.5;
      }
    }
    p.cut[k][0] = re * scale;
    p.cut[k][1] = im * scale;
  }
  fftw_execute(p.backward);
  std::copy(p.out + trim_left_, p.out + trim_left_ + final_len_, y);
}

}  // namespace attncamp::data
