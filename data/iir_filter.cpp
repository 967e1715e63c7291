// Butterworth design follows scipy: analog prototype poles, lp2bp/lp2lp frequency transform of
// pre-warped edges, bilinear transform (fs = 2), gain in the first section; filtering follows
// scipy's sosfilt/sosfiltfilt and MNE's estimate_ringing_samples line by line.
#include "data/iir_filter.h"

#include <algorithm>
#include <cmath>
#include <complex>

#include "runtime/error.h"

namespace attncamp::data {

namespace {

using Complex = std::complex<double>;
constexpr double kPi = 3.14159265358979323846;
constexpr double kFs2 = 4.0;  // 2 * fs with scipy's normalised fs = 2

// scipy.signal.buttap: poles -exp(i*pi*m/(2N)) for m = -N+1, -N+3, ..., N-1; gain 1.
std::vector<Complex> butter_prototype(int order) {
  std::vector<Complex> p;
  for (int m = -order + 1; m < order; m += 2) p.push_back(-std::exp(Complex(0, kPi * m / (2.0 * order))));
  return p;
}

// Pre-warped analog edge for a digital frequency hz at fs_hz (scipy: 2*fs*tan(pi*Wn/fs), fs=2).
double warp(double hz, double fs_hz) { return kFs2 * std::tan(kPi * (hz / (fs_hz / 2)) / 2.0); }

// Groups digital poles and zeros into biquads: complex-conjugate pole pairs first, then real
// poles two by two; zeros are taken in the given order, as many per section as poles.
Sos to_sections(const std::vector<Complex>& poles, const std::vector<double>& zeros, double gain) {
  std::vector<std::vector<Complex>> groups;
  std::vector<Complex> reals;
  for (const Complex& p : poles) {
    if (std::abs(p.imag()) <= 1e-12 * std::max(1.0, std::abs(p))) {
      reals.push_back(Complex(p.real(), 0));
    } else if (p.imag() > 0) {
      groups.push_back({p, std::conj(p)});
    }
  }
  for (size_t i = 0; i < reals.size(); i += 2) {
    groups.push_back(i + 1 < reals.size() ? std::vector<Complex>{reals[i], reals[i + 1]}
                                          : std::vector<Complex>{reals[i]});
  }
  size_t next_zero = 0;
  Sos sos;
  for (const auto& g : groups) {
    Biquad q;
    if (g.size() == 2) {
      q.a1 = -(g[0] + g[1]).real();
      q.a2 = (g[0] * g[1]).real();
    } else {
      q.a1 = -g[0].real();
    }
    std::vector<double> z;
    for (size_t k = 0; k < g.size() && next_zero < zeros.size(); ++k) z.push_back(zeros[next_zero++]);
    if (z.size() == 2) {
      q.b1 = -(z[0] + z[1]);
      q.b2 = z[0] * z[1];
    } else if (z.size() == 1) {
      q.b1 = -z[0];
    }
    sos.push_back(q);
  }
  sos[0].b0 *= gain;
  sos[0].b1 *= gain;
  sos[0].b2 *= gain;
  return sos;
}

// scipy.signal.bilinear_zpk for analog poles p, analog gain k and `n_zero_at_origin` analog
// zeros at s = 0 (the rest, up to the pole count, go to z = -1). Returns digital poles; `gain`
// receives the digital gain.
std::vector<Complex> bilinear(const std::vector<Complex>& p, size_t n_zero_at_origin, double k, double& gain) {
  std::vector<Complex> pz;
  Complex num(1, 0), den(1, 0);
  for (size_t i = 0; i < n_zero_at_origin; ++i) num *= kFs2;
  for (const Complex& s : p) {
    pz.push_back((kFs2 + s) / (kFs2 - s));
    den *= (kFs2 - s);
  }
  gain = k * (num / den).real();
  return pz;
}

}  // namespace

Sos butter_bandpass(int order, double lo_hz, double hi_hz, double fs_hz) {
  ATTNCAMP_CHECK(order >= 1, "Butterworth order must be >= 1, got ", order);
  ATTNCAMP_CHECK(lo_hz > 0 && lo_hz < hi_hz && hi_hz < fs_hz / 2,
                 "band-pass edges must satisfy 0 < lo < hi < fs/2, got ", lo_hz, ", ", hi_hz, " at fs = ", fs_hz,
                 " Hz");
  const double w1 = warp(lo_hz, fs_hz), w2 = warp(hi_hz, fs_hz);
  const double bw = w2 - w1, wo = std::sqrt(w1 * w2);
  // scipy.signal.lp2bp_zpk: each prototype pole splits into two; `order` zeros at s = 0.
  std::vector<Complex> pa;
  for (const Complex& p : butter_prototype(order)) pa.push_back(p * bw / 2.0);
  std::vector<Complex> pb;
  for (const Complex& p : pa) pb.push_back(p + std::sqrt(p * p - wo * wo));
  for (const Complex& p : pa) pb.push_back(p - std::sqrt(p * p - wo * wo));
  const double k = std::pow(bw, order);
  double gain = 0;
  const std::vector<Complex> pz = bilinear(pb, order, k, gain);
  std::vector<double> zeros;  // s = 0 maps to z = 1; the `order` zeros at infinity to z = -1
  for (int i = 0; i < order; ++i) {
    zeros.push_back(1.0);
    zeros.push_back(-1.0);
  }
  return to_sections(pz, zeros, gain);
}

Sos butter_lowpass(int order, double hz, double fs_hz) {
  ATTNCAMP_CHECK(order >= 1, "Butterworth order must be >= 1, got ", order);
  ATTNCAMP_CHECK(hz > 0 && hz < fs_hz / 2, "low-pass cut-off must satisfy 0 < f < fs/2, got ", hz, " at fs = ", fs_hz,
                 " Hz");
  const double wo = warp(hz, fs_hz);
  std::vector<Complex> pa;
  for (const Complex& p : butter_prototype(order)) pa.push_back(p * wo);
  double gain = 0;
  const std::vector<Complex> pz = bilinear(pa, 0, std::pow(wo, order), gain);
  return to_sections(pz, std::vector<double>(order, -1.0), gain);
}

void sos_filter(const Sos& sos, double* x, int64_t n, std::vector<double>& state) {
  ATTNCAMP_CHECK(state.size() == 2 * sos.size(), "sos_filter state has ", state.size(), " values, expected ",
                 2 * sos.size());
  for (size_t s = 0; s < sos.size(); ++s) {
    const Biquad& q = sos[s];
    double z0 = state[2 * s], z1 = state[2 * s + 1];
    for (int64_t i = 0; i < n; ++i) {
      const double xi = x[i];
      const double y = q.b0 * xi + z0;
      z0 = q.b1 * xi - q.a1 * y + z1;
      z1 = q.b2 * xi - q.a2 * y;
      x[i] = y;
    }
    state[2 * s] = z0;
    state[2 * s + 1] = z1;
  }
}

std::vector<double> sos_filter_zi(const Sos& sos) {
  // scipy.signal.lfilter_zi for one biquad: solve (I - companion(a)^T) zi = b[1:] - a[1:] b0,
  // i.e. [[1 + a1, -1], [a2, 1]] zi = [b1 - a1 b0, b2 - a2 b0]; scaled by the DC gain so far.
  std::vector<double> zi(2 * sos.size());
  double scale = 1.0;
  for (size_t s = 0; s < sos.size(); ++s) {
    const Biquad& q = sos[s];
    const double r0 = q.b1 - q.a1 * q.b0, r1 = q.b2 - q.a2 * q.b0;
    const double det = (1 + q.a1) + q.a2;
    const double z0 = (r0 + r1) / det;
    const double z1 = r1 - q.a2 * z0;
    zi[2 * s] = scale * z0;
    zi[2 * s + 1] = scale * z1;
    scale *= (q.b0 + q.b1 + q.b2) / (1.0 + q.a1 + q.a2);
  }
  return zi;
}

int64_t estimate_ringing_samples(const Sos& sos, int64_t max_try) {
  const int64_t n_per_chunk = 1000;
  const int64_t n_chunks_max = (max_try + n_per_chunk - 1) / n_per_chunk;
  std::vector<double> state(2 * sos.size(), 0.0);
  std::vector<double> h(n_per_chunk);
  int64_t last_good = n_per_chunk;
  double thresh = 0;
  for (int64_t ii = 0; ii < n_chunks_max; ++ii) {
    std::fill(h.begin(), h.end(), 0.0);
    if (ii == 0) h[0] = 1.0;
    sos_filter(sos, h.data(), n_per_chunk, state);
    double peak = 0;
    for (double v : h) peak = std::max(peak, std::abs(v));
    thresh = std::max(0.001 * peak, thresh);
    int64_t idx = -1;
    for (int64_t i = 0; i < n_per_chunk; ++i) {
      if (std::abs(h[i]) > thresh) idx = i;
    }
    if (idx >= 0) {
      last_good = idx;
    } else {
      return (ii - 1) * n_per_chunk + last_good;
    }
  }
  return n_per_chunk * n_chunks_max;
}

int64_t sosfiltfilt_default_padlen(const Sos& sos) {
  int64_t zb = 0, za = 0;
  for (const Biquad& q : sos) {
    zb += q.b2 == 0;
    za += q.a2 == 0;
  }
  return 3 * (2 * static_cast<int64_t>(sos.size()) + 1 - std::min(zb, za));
}

void sos_filtfilt(const Sos& sos, double* x, int64_t n, int64_t padlen) {
  ATTNCAMP_CHECK(padlen >= 0 && (padlen < n || (padlen == 0 && n >= 0)), "sos_filtfilt: padlen ", padlen,
                 " must be smaller than the signal length ", n);
  if (n == 0) return;
  // Odd extension: 2*x[0] - x[padlen..1], x, 2*x[n-1] - x[n-2..n-1-padlen].
  std::vector<double> ext(n + 2 * padlen);
  for (int64_t i = 0; i < padlen; ++i) ext[i] = 2 * x[0] - x[padlen - i];
  std::copy(x, x + n, ext.begin() + padlen);
  for (int64_t i = 0; i < padlen; ++i) ext[padlen + n + i] = 2 * x[n - 1] - x[n - 2 - i];
  const std::vector<double> zi = sos_filter_zi(sos);
  std::vector<double> state(zi.size());
  const int64_t m = static_cast<int64_t>(ext.size());
  for (size_t i = 0; i < zi.size(); ++i) state[i] = zi[i] * ext[0];
  sos_filter(sos, ext.data(), m, state);
  std::reverse(ext.begin(), ext.end());
  for (size_t i = 0; i < zi.size(); ++i) state[i] = zi[i] * ext[0];
  sos_filter(sos, ext.data(), m, state);
  std::reverse(ext.begin(), ext.end());
  std::copy(ext.begin() + padlen, ext.begin() + padlen + n, x);
}

}  // namespace attncamp::data
