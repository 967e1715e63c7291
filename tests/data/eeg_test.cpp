// Tests for the EEG converter and eeg/1 reader on the PhysioNet fixture: epochs must match what
// MNE-Python reads and epochs from the same EDF files (raw and band-passed), GDF must match
// EDF, and bad input must give one-line errors naming the file.
#include "data/eeg.h"

#include <biosig.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/fft_resample.h"
#include "data/hdf5.h"
#include "data/iir_filter.h"
#include "tests/test_util.h"

namespace attncamp::data {
namespace {

std::string edf_dir() { return test::data_dir() + "/eeg/physionet_mmi_S001"; }
std::string edf(int run) {
  char name[32];
  std::snprintf(name, sizeof(name), "/S001R%02d.edf", run);
  return edf_dir() + name;
}
std::string gdf4() { return test::data_dir() + "/eeg/physionet_mmi_S001_gdf/S001R04.gdf"; }

#define SKIP_WITHOUT_FIXTURE()                                                                \
  if (!std::filesystem::exists(edf(4))) GTEST_SKIP() << "fixture " << edf(4) << " is absent"; \
  static_assert(true, "")

EegOptions motor_imagery() {
  EegOptions o;
  o.events = {{"T1", "left"}, {"T2", "right"}};
  o.tmin_s = -0.5;
  o.tmax_s = 4.0;
  return o;
}

EegDataset convert(const std::vector<std::string>& files, const EegOptions& o, ConvertSummary* summary = nullptr) {
  const std::string out = test::temp_dir() + "/eeg.h5";
  ConvertSummary s = convert_eeg(files, out, o);
  if (summary) *summary = s;
  return read_eeg(out);
}

// MNE's epochs of runs 4, 8, 12 (raw, 8-30 Hz IIR band-passed, resampled to 80 and 128 Hz, and
// band-passed then resampled to 100 Hz), written once per process by
// /usr/bin/python3 into an HDF5 file; "" when Python or mne is missing.
const std::string& mne_reference() {
  static const std::string path = [] {
    if (std::system("/usr/bin/python3 -c 'import mne, h5py' >/dev/null 2>&1") != 0) return std::string();
    const std::string dir = test::temp_dir();
    const std::string script = dir + "/ref.py";
    std::ofstream f(script);
    f << "import sys, numpy as np, mne, h5py\n"
         "mne.set_log_level('ERROR')\n"
         "out = h5py.File(sys.argv[1], 'w')\n"
         "for tag, filt, sfreq in (('raw', False, 0), ('band', True, 0), ('rs80', False, 80),\n"
         "                         ('band_rs100', True, 100), ('rs128', False, 128)):\n"
         "    sig, lab = [], []\n"
         "    for path in sys.argv[2:]:\n"
         "        raw = mne.io.read_raw_edf(path, preload=True)\n"
         "        if filt:\n"
         "            raw.filter(8., 30., method='iir', iir_params=dict(order=4, ftype='butter', output='sos'))\n"
         "        if sfreq:\n"
         "            raw.resample(sfreq)\n"
         "        ev, ids = mne.events_from_annotations(raw)\n"
         "        ep = mne.Epochs(raw, ev, event_id={'T1': ids['T1'], 'T2': ids['T2']}, tmin=-0.5, tmax=4.0,\n"
         "                        baseline=None, preload=True)\n"
         "        sig.append(ep.get_data() * 1e6)\n"
         "        lab.append((ep.events[:, 2] == ids['T2']).astype(np.int32))\n"
         "    out[tag + '_signals'] = np.concatenate(sig)\n"
         "    out[tag + '_labels'] = np.concatenate(lab)\n"
         "out['channel_names'] = np.array([c.encode() for c in raw.ch_names])\n"
         "out.close()\n";
    f.close();
    const std::string ref = dir + "/mne.h5";
    const std::string cmd = "/usr/bin/python3 " + script + " " + ref + " " + edf(4) + " " + edf(8) + " " + edf(12);
    return std::system(cmd.c_str()) == 0 ? ref : std::string("failed: " + cmd);
  }();
  return path;
}

void expect_matches_mne(const EegDataset& d, const std::string& tag, int64_t samples = 721) {
  const std::string& ref = mne_reference();
  ASSERT_EQ(ref.rfind("failed", 0), std::string::npos) << ref;
  H5Id f = open_file(ref);
  const Tensor want = read_tensor(f.get(), tag + "_signals", DType::kF64, 3);
  const Tensor want_labels = read_tensor(f.get(), tag + "_labels", DType::kI32, 1);
  ASSERT_EQ(d.signals.shape(), want.shape());
  EXPECT_EQ(d.signals.size(0), 45);  // 15 T1/T2 events per run
  EXPECT_EQ(d.signals.size(1), 64);
  EXPECT_EQ(d.signals.size(2), samples);  // round(4.5 * fs) + 1
  const float* got = d.signals.data<float>();
  const double* exp = want.data<double>();
  double worst = 0;
  for (int64_t i = 0; i < want.numel(); ++i) worst = std::max(worst, std::abs(double(got[i]) - exp[i]));
  EXPECT_LT(worst, 1e-3) << tag << ": max |ours - MNE| in uV";
  std::printf("%s: max |ours - MNE| = %.3g uV over %lld values\n", tag.c_str(), worst,
              static_cast<long long>(want.numel()));
  for (int64_t i = 0; i < d.labels.numel(); ++i) {
    EXPECT_EQ(d.labels.data<int32_t>()[i], want_labels.data<int32_t>()[i]) << i;
  }
  EXPECT_EQ(d.channel_names, read_string_dataset(f.get(), "channel_names"));
}

TEST(Eeg, UnfilteredEpochsMatchMne) {
  SKIP_WITHOUT_FIXTURE();
  if (mne_reference().empty()) GTEST_SKIP() << "/usr/bin/python3 lacks mne or h5py";
  const EegDataset d = convert({edf(4), edf(8), edf(12)}, motor_imagery());
  expect_matches_mne(d, "raw");
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"left", "right"}));
  EXPECT_EQ(d.sample_rate_hz, 160.0);
  EXPECT_EQ(d.tmin_s, -0.5);
  EXPECT_EQ(d.band_hz, (std::vector<double>{0, 0}));
  for (int64_t i = 0; i < 45; ++i) {
    EXPECT_EQ(d.subjects.data<int32_t>()[i], 1);
    EXPECT_EQ(d.runs.data<int32_t>()[i], i < 15 ? 4 : i < 30 ? 8 : 12) << i;
  }
}

TEST(Eeg, BandpassedEpochsMatchMneIir) {
  SKIP_WITHOUT_FIXTURE();
  if (mne_reference().empty()) GTEST_SKIP() << "/usr/bin/python3 lacks mne or h5py";
  EegOptions o = motor_imagery();
  o.band_lo_hz = 8;
  o.band_hi_hz = 30;
  const EegDataset d = convert({edf(4), edf(8), edf(12)}, o);
  expect_matches_mne(d, "band");
  EXPECT_EQ(d.band_hz, (std::vector<double>{8, 30}));
}

TEST(Eeg, GdfGivesTheSameEpochsAsEdf) {
  SKIP_WITHOUT_FIXTURE();
  if (!std::filesystem::exists(gdf4())) GTEST_SKIP() << gdf4() << " is absent";
  EegOptions o = motor_imagery();
  o.band_lo_hz = 8;
  o.band_hi_hz = 30;
  const EegDataset a = convert({edf(4)}, o);
  const EegDataset b = convert({gdf4()}, o);
  ASSERT_EQ(a.signals.shape(), b.signals.shape());
  EXPECT_EQ(a.signals.size(0), 15);
  const double diff = test::max_abs_diff(a.signals, b.signals);
  EXPECT_LT(diff, 1e-3);
  std::printf("GDF vs EDF: max diff = %.3g uV\n", diff);
  EXPECT_EQ(a.channel_names, b.channel_names);
  for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(a.labels.data<int32_t>()[i], b.labels.data<int32_t>()[i]);
  EXPECT_EQ(b.runs.data<int32_t>()[0], 4);
}

TEST(Eeg, RecordingIsInMicrovoltsWithAnnotations) {
  SKIP_WITHOUT_FIXTURE();
  const EegRecording r = read_eeg_recording(edf(4));
  EXPECT_EQ(r.sample_rate_hz, 160.0);
  EXPECT_EQ(r.num_samples, 20000);
  ASSERT_EQ(r.channel_names.size(), 64u);
  EXPECT_EQ(r.channel_names[0], "Fc5.");
  EXPECT_EQ(r.data[0], -5.0);  // first samples of Fc5. (PhysioNet stores 1 uV per unit)
  EXPECT_EQ(r.data[1], -12.0);
  ASSERT_EQ(r.events.size(), 30u);
  EXPECT_EQ(r.events[1], (std::pair<std::string, int64_t>{"T2", 672}));
  EXPECT_EQ(r.events[3], (std::pair<std::string, int64_t>{"T1", 2000}));
}

TEST(Eeg, ChannelPickAndCommonAverageReference) {
  SKIP_WITHOUT_FIXTURE();
  EegOptions o = motor_imagery();
  o.channels = {"C3", "Cz..", "C4"};
  const EegDataset plain = convert({edf(4)}, o);
  o.car = true;
  const EegDataset car = convert({edf(4)}, o);
  EXPECT_EQ(plain.channel_names, (std::vector<std::string>{"C3..", "Cz..", "C4.."}));
  ASSERT_EQ(car.signals.shape(), (Shape{15, 3, 721}));
  const float* p = plain.signals.data<float>();
  const float* c = car.signals.data<float>();
  for (int64_t e = 0; e < 15; ++e) {
    for (int64_t t = 0; t < 721; t += 37) {
      const double mean = (p[(e * 3 + 0) * 721 + t] + p[(e * 3 + 1) * 721 + t] + p[(e * 3 + 2) * 721 + t]) / 3.0;
      for (int64_t ch = 0; ch < 3; ++ch) {
        EXPECT_NEAR(c[(e * 3 + ch) * 721 + t], p[(e * 3 + ch) * 721 + t] - mean, 1e-4);
      }
    }
  }
}

TEST(Eeg, ResampledEpochsMatchMne) {
  SKIP_WITHOUT_FIXTURE();
  if (mne_reference().empty()) GTEST_SKIP() << "/usr/bin/python3 lacks mne or h5py";
  const std::vector<std::string> files = {edf(4), edf(8), edf(12)};
  EegOptions o = motor_imagery();
  o.resample_hz = 80;  // integer ratio 2
  EegDataset d = convert(files, o);
  EXPECT_EQ(d.sample_rate_hz, 80.0);
  expect_matches_mne(d, "rs80", 361);
  o.resample_hz = 128;  // 4/5
  d = convert(files, o);
  expect_matches_mne(d, "rs128", 577);
  o.resample_hz = 100;  // 5/8, after the band-pass
  o.band_lo_hz = 8;
  o.band_hi_hz = 30;
  d = convert(files, o);
  EXPECT_EQ(d.sample_rate_hz, 100.0);
  expect_matches_mne(d, "band_rs100", 451);
}

TEST(FftResample, LengthsRoundHalfToEvenAndToneSurvives) {
  EXPECT_EQ(round_half_even(2.5), 2);
  EXPECT_EQ(round_half_even(3.5), 4);
  EXPECT_EQ(round_half_even(-0.5), 0);
  // 5 samples at 2 Hz -> 1 Hz: 2.5 samples round to 2, as MNE's int(round(...)).
  EXPECT_EQ(FftResampler(5, 2, 1).output_length(), 2);
  EXPECT_EQ(FftResampler(20000, 160, 100).output_length(), 12500);
  // A 5 Hz sine sampled at 160 Hz, resampled to 100 Hz (up) and 250 Hz (down and up), equals the
  // same sine sampled at the new rate away from the ends (the band-limited signal is preserved).
  const int64_t n = 1600;
  std::vector<double> x(n);
  for (int64_t t = 0; t < n; ++t) x[t] = std::sin(2 * M_PI * 5 * static_cast<double>(t) / 160);
  for (double to : {100.0, 250.0}) {
    FftResampler rs(n, 160, to);
    std::vector<double> y(static_cast<size_t>(rs.output_length()));
    rs.apply(x.data(), y.data());
    ASSERT_EQ(rs.output_length(), round_half_even(n * to / 160));
    double worst = 0;
    for (int64_t t = rs.output_length() / 10; t < rs.output_length() * 9 / 10; ++t) {
      worst = std::max(worst, std::abs(y[t] - std::sin(2 * M_PI * 5 * static_cast<double>(t) / to)));
    }
    EXPECT_LT(worst, 1e-3) << "to " << to << " Hz";
  }
  EXPECT_THROW(FftResampler(10, 0, 100), Error);
  EXPECT_THROW(FftResampler(0, 100, 50), Error);
}

TEST(Eeg, ErrorsNameTheFileAndTheProblem) {
  SKIP_WITHOUT_FIXTURE();
  const std::string out = test::temp_dir() + "/bad.h5";
  EegOptions o = motor_imagery();
  o.events = {{"T7", "left"}};
  test::expect_error([&] { convert_eeg({edf(4)}, out, o); }, {edf(4), "no event matches", "T0 x15", "T1 x8", "T2 x7"});
  EXPECT_FALSE(std::filesystem::exists(out));
  o = motor_imagery();
  o.channels = {"Xx9"};
  test::expect_error([&] { convert_eeg({edf(4)}, out, o); }, {edf(4), "channel 'Xx9' not found"});
  test::expect_error([&] { convert_eeg({edf_dir() + "/missing.edf"}, out, motor_imagery()); },
                     {"missing.edf", "no such file"});
  test::expect_error([] { parse_eeg_event_map("T1=left,T2"); }, {"'T2'", "EVENT=CLASS"});
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(Eeg, SkipModeLeavesBadFilesOutAndRecordsThem) {
  SKIP_WITHOUT_FIXTURE();
  const std::string out = test::temp_dir() + "/skip.h5";
  ConvertOptions c;
  c.on_error = OnError::kSkip;
  const std::string missing = edf_dir() + "/S001R99.edf";
  const ConvertSummary s = convert_eeg({edf(4), missing}, out, motor_imagery(), c);
  EXPECT_EQ(s.written, 15);
  EXPECT_EQ(s.skipped, 1);
  ASSERT_EQ(s.skipped_samples.size(), 1u);
  EXPECT_EQ(s.skipped_samples[0].source, missing);
  EXPECT_NE(s.skipped_samples[0].reason.find("no such file"), std::string::npos);
  EXPECT_EQ(read_eeg(out).signals.size(0), 15);
}

TEST(Eeg, ThreadCountDoesNotChangeTheOutputOrTheErrorReported) {
  SKIP_WITHOUT_FIXTURE();
  const std::string missing = edf_dir() + "/S001R99.edf";
  const std::vector<std::string> files = {edf(4), missing, edf(8), edf(12)};
  EegOptions o = motor_imagery();
  o.band_lo_hz = 8;
  o.band_hi_hz = 30;
  o.resample_hz = 100;
  std::vector<EegDataset> got;
  for (int threads : {1, 3}) {
    ConvertOptions c;
    c.on_error = OnError::kSkip;
    c.threads = threads;
    std::vector<int64_t> progress;
    c.progress = [&](int64_t done, int64_t total) {
      EXPECT_EQ(total, 4);
      progress.push_back(done);
    };
    const std::string out = test::temp_dir() + "/threads" + std::to_string(threads) + ".h5";
    const ConvertSummary s = convert_eeg(files, out, o, c);
    EXPECT_EQ(s.written, 45);
    EXPECT_EQ(s.skipped, 1);
    EXPECT_EQ(progress, (std::vector<int64_t>{1, 2, 3, 4})) << "progress comes in file order";
    got.push_back(read_eeg(out));
    // In fail mode the first bad file in input order is reported, whatever finishes first.
    c.on_error = OnError::kFail;
    c.progress = nullptr;
    const std::string fail_out = test::temp_dir() + "/fail" + std::to_string(threads) + ".h5";
    test::expect_error([&] { convert_eeg({edf(4), edf(8), missing}, fail_out, o, c); }, {missing, "no such file"});
    EXPECT_FALSE(std::filesystem::exists(fail_out));
  }
  ASSERT_EQ(got[0].signals.shape(), got[1].signals.shape());
  EXPECT_EQ(std::memcmp(got[0].signals.raw_data(), got[1].signals.raw_data(), got[0].signals.nbytes()), 0);
  EXPECT_EQ(std::memcmp(got[0].runs.raw_data(), got[1].runs.raw_data(), got[0].runs.nbytes()), 0);
}

// Writes a small float32 GDF file with libbiosig: channels [C] of `data` [C, S] (row-major)
// at fs_hz, each with its unit ("uV", "mV", ...), one record, no events.
void write_gdf(const std::string& path, const std::vector<std::string>& labels, const std::vector<std::string>& units,
               std::vector<double> data, double fs_hz) {
  const int c_count = static_cast<int>(labels.size());
  const ssize_t s_count = static_cast<ssize_t>(data.size()) / c_count;
  HDRTYPE* h = constructHDR(c_count, 0);
  biosig_set_filetype(h, GDF);
  biosig_set_samplerate(h, fs_hz);
  biosig_set_number_of_samples(h, 1, s_count);
  for (int c = 0; c < c_count; ++c) {
    CHANNEL_TYPE* ch = biosig_get_channel(h, c);
    biosig_channel_set_label(ch, labels[c].c_str());
    biosig_channel_set_physdimcode(ch, PhysDimCode(units[c].c_str()));
    biosig_channel_set_datatype_to_float(ch);
    biosig_channel_set_scaling(ch, 1000, -1000, 1000, -1000);
    biosig_channel_set_samples_per_record(ch, static_cast<size_t>(s_count));
    biosig_set_channel_samplerate_and_samples_per_record(h, c, s_count, fs_hz);
  }
  h = sopen(path.c_str(), "w", h);
  ASSERT_EQ(serror2(h), 0) << biosig_get_errormsg(h);
  EXPECT_EQ(swrite(data.data(), 1, h), 1u);
  sclose(h);
  destructHDR(h);
}

TEST(Eeg, ScalesUnitsToMicrovoltsAndRejectsNaN) {
  const std::string dir = test::temp_dir();
  std::vector<double> data(2 * 300);
  for (size_t i = 0; i < data.size(); ++i) data[i] = std::sin(0.05 * static_cast<double>(i)) * 100;
  write_gdf(dir + "/S002R03.gdf", {"C3", "C4"}, {"uV", "mV"}, data, 100);
  const EegRecording r = read_eeg_recording(dir + "/S002R03.gdf");
  ASSERT_EQ(r.num_samples, 300);
  EXPECT_EQ(r.sample_rate_hz, 100.0);
  EXPECT_EQ(r.channel_names, (std::vector<std::string>{"C3", "C4"}));
  for (int64_t t = 0; t < 300; t += 17) {
    EXPECT_NEAR(r.data[t], data[t], 1e-4) << t;                     // float32 in the file
    EXPECT_NEAR(r.data[300 + t], data[300 + t] * 1000, 1e-1) << t;  // mV -> uV
  }
  data[300 + 123] = std::nan("");
  write_gdf(dir + "/S002R04.gdf", {"C3", "C4"}, {"uV", "uV"}, data, 100);
  test::expect_error([&] { convert_eeg({dir + "/S002R04.gdf"}, dir + "/out.h5", motor_imagery()); },
                     {"S002R04.gdf", "channel C4 sample 123 is NaN"});
  test::expect_error([&] { convert_eeg({dir + "/S002R03.gdf"}, dir + "/out.h5", motor_imagery()); },
                     {"S002R03.gdf", "no event matches", "no events"});
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.h5"));
}

TEST(Eeg, EpochsOutsideTheRecordingAreDroppedAndListed) {
  SKIP_WITHOUT_FIXTURE();
  EegOptions o = motor_imagery();
  o.tmin_s = -5.0;  // the first T2 is at 4.2 s: its epoch would start before the recording
  ConvertSummary s;
  const EegDataset d = convert({edf(4)}, o, &s);
  EXPECT_EQ(d.signals.size(0), 14);
  EXPECT_EQ(d.signals.size(2), 1441);
  EXPECT_EQ(d.tmin_s, -5.0);
  EXPECT_EQ(s.written, 14);
  EXPECT_EQ(s.skipped, 0);
  ASSERT_EQ(s.skipped_samples.size(), 1u);
  EXPECT_NE(s.skipped_samples[0].reason.find("T2 at sample 672"), std::string::npos) << s.skipped_samples[0].reason;
}

TEST(Eeg, ParsesEventMapAndFileNames) {
  const auto m = parse_eeg_event_map("T1=left, T2=right,T0=left");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1], (std::pair<std::string, std::string>{"T2", "right"}));
  EXPECT_EQ(eeg_subject_run_from_name("/a/b/S012R07.edf"), (std::pair<int, int>{12, 7}));
  EXPECT_EQ(eeg_subject_run_from_name("/a/b/recording.edf"), (std::pair<int, int>{-1, -1}));
}

}  // namespace
}  // namespace attncamp::data
