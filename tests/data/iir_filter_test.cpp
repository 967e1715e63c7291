// Tests for the Butterworth design and zero-phase filtering: analytic properties (unit gain in
// the pass band, zero at DC/Nyquist, steady-state zi) and agreement with scipy/MNE when
// /usr/bin/python3 has them.
#include "data/iir_filter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/test_util.h"

namespace attncamp::data {
namespace {

constexpr double kPi = 3.14159265358979323846;

// |H(e^{iw})| of the cascade at frequency hz.
double gain_at(const Sos& sos, double hz, double fs) {
  const std::complex<double> z1 = std::exp(std::complex<double>(0, -2 * kPi * hz / fs));
  std::complex<double> h(1, 0);
  for (const Biquad& q : sos) h *= (q.b0 + q.b1 * z1 + q.b2 * z1 * z1) / (1.0 + q.a1 * z1 + q.a2 * z1 * z1);
  return std::abs(h);
}

// Deterministic test signal: two sines, a DC offset and a little pseudo-random noise.
std::vector<double> test_signal(int64_t n, double fs) {
  std::vector<double> x(n);
  uint64_t s = 12345;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    const double noise = static_cast<double>(s >> 11) / 9007199254740992.0 - 0.5;
    x[i] = 40 + 25 * std::sin(2 * kPi * 12 * i / fs) + 10 * std::sin(2 * kPi * 50 * i / fs) + 5 * noise;
  }
  return x;
}

TEST(IirFilter, ButterBandpassHasUnitPassbandAndMinus3dBEdges) {
  const Sos sos = butter_bandpass(4, 8, 30, 160);
  ASSERT_EQ(sos.size(), 4u);
  EXPECT_NEAR(gain_at(sos, std::sqrt(8.0 * 30.0), 160), 1.0, 0.02);  // near the centre
  EXPECT_NEAR(gain_at(sos, 8, 160), 1 / std::sqrt(2.0), 1e-9);
  EXPECT_NEAR(gain_at(sos, 30, 160), 1 / std::sqrt(2.0), 1e-9);
  EXPECT_LT(gain_at(sos, 0, 160), 1e-12);
  EXPECT_LT(gain_at(sos, 80, 160), 1e-12);
  EXPECT_EQ(sosfiltfilt_default_padlen(sos), 27);
}

TEST(IirFilter, ButterLowpassHasUnitDcAndMinus3dBCutoff) {
  for (int order : {3, 4, 8}) {
    const Sos sos = butter_lowpass(order, 20, 160);
    EXPECT_EQ(sos.size(), static_cast<size_t>((order + 1) / 2));
    EXPECT_NEAR(gain_at(sos, 0, 160), 1.0, 1e-12) << order;
    EXPECT_NEAR(gain_at(sos, 20, 160), 1 / std::sqrt(2.0), 1e-9) << order;
    EXPECT_LT(gain_at(sos, 80, 160), 1e-12) << order;
  }
}

TEST(IirFilter, ZiIsTheStepSteadyState) {
  const Sos sos = butter_lowpass(4, 10, 100);
  std::vector<double> state = sos_filter_zi(sos);
  std::vector<double> ones(50, 1.0);
  sos_filter(sos, ones.data(), 50, state);
  for (double v : ones) EXPECT_NEAR(v, 1.0, 1e-12);
}

TEST(IirFilter, FiltfiltKeepsPassbandSineAndRemovesDc) {
  const double fs = 160;
  std::vector<double> x(1600);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 100 + 20 * std::sin(2 * kPi * 15 * i / fs);
  const Sos sos = butter_bandpass(4, 8, 30, fs);
  sos_filtfilt(sos, x.data(), static_cast<int64_t>(x.size()), estimate_ringing_samples(sos));
  // Away from the edges: |H|^2 at 15 Hz times the sine, no DC, no phase shift.
  const double g = gain_at(sos, 15, fs) * gain_at(sos, 15, fs);
  for (size_t i = 400; i < 1200; ++i) EXPECT_NEAR(x[i], g * 20 * std::sin(2 * kPi * 15 * i / fs), 1e-3) << i;
}

TEST(IirFilter, MatchesScipyAndMne) {
  if (std::system("/usr/bin/python3 -c 'import scipy.signal, mne' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 lacks scipy or mne";
  }
  const std::string dir = test::temp_dir();
  const double fs = 160;
  std::vector<double> x = test_signal(2000, fs);
  {
    std::ofstream f(dir + "/x.txt");
    f.precision(17);
    for (double v : x) f << v << "\n";
  }
  const std::string script = dir + "/ref.py";
  {
    std::ofstream f(script);
    f << "import sys, numpy as np, scipy.signal as ss, mne\n"
         "x = np.loadtxt(sys.argv[1] + '/x.txt')\n"
         "sos = ss.butter(4, [8 / 80, 30 / 80], btype='bandpass', output='sos')\n"
         "pad = mne.filter.estimate_ringing_samples(sos)\n"
         "np.savetxt(sys.argv[1] + '/mne.txt', ss.sosfiltfilt(sos, x, padlen=pad), fmt='%.17g')\n"
         "np.savetxt(sys.argv[1] + '/scipy.txt', ss.sosfiltfilt(sos, x), fmt='%.17g')\n"
         "lp = ss.butter(5, 20 / 80, output='sos')\n"
         "np.savetxt(sys.argv[1] + '/lp.txt', ss.sosfiltfilt(lp, x), fmt='%.17g')\n"
         "print(pad)\n";
  }
  const std::string cmd = "/usr/bin/python3 " + script + " " + dir + " > " + dir + "/pad.txt";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto load = [&](const std::string& name) {
    std::ifstream f(dir + "/" + name);
    std::vector<double> v;
    double d;
    while (f >> d) v.push_back(d);
    return v;
  };
  const Sos sos = butter_bandpass(4, 8, 30, fs);
  const int64_t pad = estimate_ringing_samples(sos);
  EXPECT_EQ(pad, static_cast<int64_t>(load("pad.txt").at(0)));
  struct Case {
    std::string file;
    Sos sos;
    int64_t padlen;
  };
  const Sos lp = butter_lowpass(5, 20, fs);
  for (const Case& c : {Case{"mne.txt", sos, pad}, Case{"scipy.txt", sos, sosfiltfilt_default_padlen(sos)},
                        Case{"lp.txt", lp, sosfiltfilt_default_padlen(lp)}}) {
    const std::vector<double> ref = load(c.file);
    ASSERT_EQ(ref.size(), x.size()) << c.file;
    std::vector<double> y = x;
    sos_filtfilt(c.sos, y.data(), static_cast<int64_t>(y.size()), c.padlen);
    double worst = 0;
    for (size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y[i] - ref[i]));
    EXPECT_LT(worst, 1e-9) << c.file;
  }
}

}  // namespace
}  // namespace attncamp::data
