// eeg/1 conversion: libbiosig reads each recording (physical values, scaled to microvolts),
// the selected channels are filtered as continuous runs (data/iir_filter.h, like MNE's
// raw.filter), optionally re-referenced and resampled (data/fft_resample.h, like MNE's raw.resample), then cut into
// epochs around events.
#include "data/eeg.h"

#include <biosig.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "data/fft_resample.h"
#include "data/hdf5.h"
#include "data/iir_filter.h"
#include "runtime/error.h"

namespace attncamp::data {

namespace {

constexpr uint16_t kVoltCode = 4256;  // PhysDimCode("V"); the low 5 bits hold the prefix

// Owns a libbiosig header; sclose + destructHDR on destruction.
struct BiosigFile {
  HDRTYPE* hdr = nullptr;
  ~BiosigFile() {
    if (hdr) {
      sclose(hdr);
      destructHDR(hdr);
    }
  }
};

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Lower case without dots, so "--channels C3" finds PhysioNet's "C3..".
std::string loose(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c != '.') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Epochs of one file, ready to append: signals [n, C, T] float32 (row-major).
struct FileEpochs {
  std::vector<std::string> channel_names;
  double sample_rate_hz = 0;
  int64_t num_samples = 0;  // T
  std::vector<float> signals;
  std::vector<int32_t> labels;
  int subject = 0, run = 0;
  std::vector<std::string> dropped;  // "onset N: reason"
};

// Indices of the channels to keep, in output order.
std::vector<size_t> pick_channels(const EegRecording& rec, const EegOptions& opt) {
  std::vector<size_t> picks;
  if (opt.channels.empty()) {
    for (size_t c = 0; c < rec.channel_names.size(); ++c) {
      if (rec.is_voltage[c]) picks.push_back(c);
    }
    if (picks.empty()) ATTNCAMP_THROW(rec.path, ": no channel is in volts (no EEG channel to keep)");
    return picks;
  }
  for (const std::string& want : opt.channels) {
    auto it = std::find(rec.channel_names.begin(), rec.channel_names.end(), want);
    if (it == rec.channel_names.end()) {
      it = std::find_if(rec.channel_names.begin(), rec.channel_names.end(),
                        [&](const std::string& n) { return loose(n) == loose(want); });
    }
    if (it == rec.channel_names.end()) {
      std::string have;
      for (size_t c = 0; c < rec.channel_names.size() && c < 8; ++c) have += (c ? ", " : "") + rec.channel_names[c];
      ATTNCAMP_THROW(rec.path, ": channel '", want, "' not found (the file has ", rec.channel_names.size(),
                     " channels: ", have, rec.channel_names.size() > 8 ? ", ..." : "", ")");
    }
    picks.push_back(static_cast<size_t>(it - rec.channel_names.begin()));
  }
  return picks;
}

// Class index of every event name, classes numbered by first appearance.
std::map<std::string, int32_t> class_of_event(const EegOptions& opt, std::vector<std::string>& class_names) {
  std::map<std::string, int32_t> out;
  for (const auto& [event, cls] : opt.events) {
    auto it = std::find(class_names.begin(), class_names.end(), cls);
    if (it == class_names.end()) {
      class_names.push_back(cls);
      it = class_names.end() - 1;
    }
    out[event] = static_cast<int32_t>(it - class_names.begin());
  }
  return out;
}

// libbiosig keeps some state in globals; its calls are serialised.
std::mutex& biosig_mutex() {
  static std::mutex m;
  return m;
}

FileEpochs process_file(const std::string& path, const EegOptions& opt, const std::map<std::string, int32_t>& classes) {
  EegRecording rec;
  {
    std::lock_guard<std::mutex> lock(biosig_mutex());
    rec = read_eeg_recording(path);
  }
  FileEpochs out;
  auto [subject, run] = eeg_subject_run_from_name(path);
  out.subject = opt.subject >= 0 ? opt.subject : subject;
  out.run = opt.run >= 0 ? opt.run : run;
  if (out.subject < 0) ATTNCAMP_THROW(path, ": cannot tell the subject from the file name (SxxxRyy); pass --subject");
  if (out.run < 0) ATTNCAMP_THROW(path, ": cannot tell the run from the file name (SxxxRyy); pass --run");

  const std::vector<size_t> picks = pick_channels(rec, opt);
  const int64_t S = rec.num_samples;
  const int64_t C = static_cast<int64_t>(picks.size());
  std::vector<double> x(static_cast<size_t>(C * S));
  for (int64_t c = 0; c < C; ++c) {
    const double* src = rec.data.data() + picks[c] * S;
    for (int64_t t = 0; t < S; ++t) {
      if (!std::isfinite(src[t])) {
        ATTNCAMP_THROW(path, ": channel ", rec.channel_names[picks[c]], " sample ", t, " is ",
                       std::isnan(src[t]) ? "NaN" : "infinite");
      }
    }
    std::copy(src, src + S, x.begin() + c * S);
    out.channel_names.push_back(rec.channel_names[picks[c]]);
  }

  const double fs = rec.sample_rate_hz;
  if (opt.band_lo_hz > 0 || opt.band_hi_hz > 0) {
    const Sos sos = butter_bandpass(opt.filter_order, opt.band_lo_hz, opt.band_hi_hz, fs);
    const int64_t padlen = std::min(estimate_ringing_samples(sos), S - 1);
    for (int64_t c = 0; c < C; ++c) sos_filtfilt(sos, x.data() + c * S, S, padlen);
  }
  if (opt.car) {
    for (int64_t t = 0; t < S; ++t) {
      double mean = 0;
      for (int64_t c = 0; c < C; ++c) mean += x[c * S + t];
      mean /= static_cast<double>(C);
      for (int64_t c = 0; c < C; ++c) x[c * S + t] -= mean;
    }
  }
  // Resampling as MNE's raw.resample (FFT, boxcar window, reflect-limited padding); event onsets
  // move to round(onset seconds * new rate), half to even, like MNE's events_from_annotations.
  double fs_out = fs;
  int64_t S_out = S;
  if (opt.resample_hz > 0 && opt.resample_hz != fs) {
    FftResampler rs(S, fs, opt.resample_hz);
    fs_out = opt.resample_hz;
    S_out = rs.output_length();
    std::vector<double> y(static_cast<size_t>(C * S_out));
    for (int64_t c = 0; c < C; ++c) rs.apply(x.data() + c * S, y.data() + c * S_out);
    x.swap(y);
  }
  const int64_t start_off = round_half_even(opt.tmin_s * fs_out);
  const int64_t stop_off = round_half_even(opt.tmax_s * fs_out);
  if (stop_off < start_off) ATTNCAMP_THROW("--tmax ", opt.tmax_s, " is before --tmin ", opt.tmin_s);
  const int64_t T = stop_off - start_off + 1;
  out.sample_rate_hz = fs_out;
  out.num_samples = T;

  bool any = false;
  for (const auto& [name, onset] : rec.events) {
    auto it = classes.find(name);
    if (it == classes.end()) continue;
    any = true;
    const int64_t at = fs_out == fs ? onset : round_half_even(static_cast<double>(onset) / fs * fs_out);
    const int64_t start = at + start_off, stop = at + stop_off;
    if (start < 0 || stop >= S_out) {
      out.dropped.push_back("event " + name + " at sample " + std::to_string(onset) +
                            ": epoch extends beyond the recording");
      continue;
    }
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t t = 0; t < T; ++t) out.signals.push_back(static_cast<float>(x[c * S_out + start + t]));
    }
    out.labels.push_back(it->second);
  }
  if (!any) {
    std::map<std::string, int> counts;
    for (const auto& e : rec.events) ++counts[e.first];
    std::string have;
    for (const auto& [n, k] : counts) have += (have.empty() ? "" : ", ") + n + " x" + std::to_string(k);
    ATTNCAMP_THROW(path, ": no event matches --events (the file has: ", have.empty() ? "no events" : have, ")");
  }
  return out;
}

}  // namespace

EegRecording read_eeg_recording(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) ATTNCAMP_THROW(path, ": no such file");
  BiosigFile f;
  f.hdr = sopen(path.c_str(), "r", nullptr);
  if (f.hdr == nullptr) ATTNCAMP_THROW(path, ": libbiosig cannot open the file");
  if (serror2(f.hdr)) {
    const char* msg = biosig_get_errormsg(f.hdr);
    ATTNCAMP_THROW(path, ": libbiosig cannot read the file (", msg ? trim(msg) : "unknown error", ")");
  }
  EegRecording rec;
  rec.path = path;
  rec.sample_rate_hz = biosig_get_samplerate(f.hdr);
  const long nc = biosig_get_number_of_channels(f.hdr);
  if (nc <= 0 || !(rec.sample_rate_hz > 0)) ATTNCAMP_THROW(path, ": no signal channels or no sampling rate");
  std::vector<double> scale(nc, 1.0);
  for (long c = 0; c < nc; ++c) {
    CHANNEL_TYPE* ch = biosig_get_channel(f.hdr, static_cast<int>(c));
    const double ch_fs = biosig_get_channel_samplerate(f.hdr, static_cast<int>(c));
    const char* label = biosig_channel_get_label(ch);
    rec.channel_names.push_back(trim(label ? label : ""));
    if (std::abs(ch_fs - rec.sample_rate_hz) > 1e-9 * rec.sample_rate_hz) {
      ATTNCAMP_THROW(path, ": channel ", rec.channel_names.back(), " is sampled at ", ch_fs, " Hz, not ",
                     rec.sample_rate_hz, " Hz (mixed rates are not supported)");
    }
    const uint16_t code = biosig_channel_get_physdimcode(ch);
    const bool volt = (code & 0xffe0) == kVoltCode;
    rec.is_voltage.push_back(volt);
    if (volt) scale[c] = PhysDimScale(code) / 1e-6;
  }
  biosig_data_type* block = biosig_get_data(f.hdr, 0);
  size_t rows = 0, cols = 0;
  if (block == nullptr || biosig_get_datablock(f.hdr, &block, &rows, &cols) != 0 || serror2(f.hdr)) {
    const char* msg = biosig_get_errormsg(f.hdr);
    ATTNCAMP_THROW(path, ": libbiosig cannot read the samples (", msg ? trim(msg) : "unknown error", ")");
  }
  if (static_cast<long>(cols) != nc) {
    ATTNCAMP_THROW(path, ": libbiosig returned ", cols, " channels, the header lists ", nc);
  }
  // The block is column-major: channel c is block[c * rows .. c * rows + rows).
  rec.num_samples = static_cast<int64_t>(rows);
  rec.data.resize(static_cast<size_t>(nc) * rows);
  for (long c = 0; c < nc; ++c) {
    for (size_t t = 0; t < rows; ++t) rec.data[c * rows + t] = block[c * rows + t] * scale[c];
  }
  const double ev_fs = biosig_get_eventtable_samplerate(f.hdr);
  const size_t n_events = biosig_get_number_of_events(f.hdr);
  for (size_t i = 0; i < n_events; ++i) {
    uint16_t typ = 0, chn = 0;
    uint32_t pos = 0, dur = 0;
    gdf_time ts = 0;
    const char* desc = nullptr;
    if (biosig_get_nth_event(f.hdr, i, &typ, &pos, &chn, &dur, &ts, &desc) != 0) {
      ATTNCAMP_THROW(path, ": libbiosig cannot read event ", i);
    }
    std::string name = desc && *desc ? trim(desc) : std::to_string(typ);
    int64_t onset = pos;
    if (ev_fs > 0 && std::abs(ev_fs - rec.sample_rate_hz) > 1e-9 * ev_fs) {
      onset = std::llround(static_cast<double>(pos) * rec.sample_rate_hz / ev_fs);
    }
    rec.events.emplace_back(name, onset);
  }
  std::stable_sort(rec.events.begin(), rec.events.end(),
                   [](const auto& a, const auto& b) { return a.second < b.second; });
  return rec;
}

std::vector<std::pair<std::string, std::string>> parse_eeg_event_map(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.find('=');
    const std::string event = trim(item.substr(0, eq));
    const std::string cls = eq == std::string::npos ? "" : trim(item.substr(eq + 1));
    if (event.empty() || cls.empty()) {
      ATTNCAMP_THROW("--events: item '", item, "' is not EVENT=CLASS (e.g. T1=left,T2=right)");
    }
    for (const auto& e : out) {
      if (e.first == event) ATTNCAMP_THROW("--events: event '", event, "' is listed twice");
    }
    out.emplace_back(event, cls);
  }
  if (out.empty()) ATTNCAMP_THROW("--events is empty; give EVENT=CLASS pairs, e.g. T1=left,T2=right");
  return out;
}

std::pair<int, int> eeg_subject_run_from_name(const std::string& path) {
  const std::string stem = std::filesystem::path(path).stem().string();
  std::smatch m;
  int subject = -1, run = -1;
  if (std::regex_search(stem, m, std::regex("[Ss](\\d+)"))) subject = std::stoi(m[1]);
  if (std::regex_search(stem, m, std::regex("[Rr](\\d+)"))) run = std::stoi(m[1]);
  return {subject, run};
}

ConvertSummary convert_eeg(const std::vector<std::string>& files, const std::string& output, const EegOptions& options,
                           const ConvertOptions& convert) {
  if (files.empty()) ATTNCAMP_THROW("convert eeg: no input files");
  if (options.events.empty()) ATTNCAMP_THROW("convert eeg: --events is required (e.g. T1=left,T2=right)");
  std::vector<std::string> class_names;
  const std::map<std::string, int32_t> classes = class_of_event(options, class_names);
  ConvertSummary summary;
  std::vector<FileEpochs> done;
  std::vector<std::string> sources;
  // Files are read, filtered and epoched by `threads` workers (libbiosig calls one at a time);
  // the calling thread takes the results in file order, so the output and the error reported
  // do not depend on the thread count.
  const size_t nfiles = files.size();
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const size_t workers = std::min(nfiles, static_cast<size_t>(convert.threads > 0 ? convert.threads : hw));
  std::vector<std::unique_ptr<FileEpochs>> results(nfiles);
  std::vector<std::string> errors(nfiles);
  std::vector<bool> finished(nfiles, false);
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<size_t> next_file{0};
  std::atomic<bool> stop{false};
  auto work = [&] {
    for (size_t i = next_file++; i < nfiles && !stop; i = next_file++) {
      std::unique_ptr<FileEpochs> fe;
      std::string err;
      try {
        fe = std::make_unique<FileEpochs>(process_file(files[i], options, classes));
      } catch (const std::exception& e) {
        err = e.what();
        if (err.empty()) err = files[i] + ": unknown error";
      }
      std::lock_guard<std::mutex> lock(mu);
      results[i] = std::move(fe);
      errors[i] = std::move(err);
      finished[i] = true;
      cv.notify_all();
    }
  };
  struct Joiner {
    std::vector<std::thread> threads;
    std::atomic<bool>* stop;
    ~Joiner() {
      *stop = true;
      for (std::thread& t : threads) t.join();
    }
  } pool{{}, &stop};
  for (size_t w = 0; w < workers; ++w) pool.threads.emplace_back(work);
  for (size_t i = 0; i < nfiles; ++i) {
    std::unique_ptr<FileEpochs> got;
    std::string err;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return finished[i]; });
      got = std::move(results[i]);
      err = std::move(errors[i]);
    }
    try {
      if (!err.empty()) throw Error(err);
      FileEpochs& fe = *got;
      if (!done.empty()) {
        const FileEpochs& first = done.front();
        if (fe.channel_names != first.channel_names) {
          ATTNCAMP_THROW(files[i], ": channels differ from ", sources.front(), " (use --channels to pick common ones)");
        }
        if (fe.sample_rate_hz != first.sample_rate_hz || fe.num_samples != first.num_samples) {
          ATTNCAMP_THROW(files[i], ": ", fe.sample_rate_hz, " Hz and ", fe.num_samples,
                         " samples per epoch differ from ", sources.front(), " (", first.sample_rate_hz, " Hz, ",
                         first.num_samples, ")");
        }
      }
      for (const std::string& d : fe.dropped) summary.skipped_samples.push_back({files[i], d});
      sources.push_back(files[i]);
      done.push_back(std::move(fe));
    } catch (const Error& e) {
      if (convert.on_error == OnError::kFail) throw;
      ++summary.skipped;
      summary.skipped_samples.push_back({files[i], e.what()});
    }
    if (convert.progress) convert.progress(static_cast<int64_t>(i + 1), static_cast<int64_t>(nfiles));
  }
  int64_t n = 0;
  for (const FileEpochs& fe : done) n += static_cast<int64_t>(fe.labels.size());
  if (n == 0) ATTNCAMP_THROW(output, ": no epochs to write (every file was skipped or had no complete epoch)");
  const FileEpochs& first = done.front();
  const int64_t C = static_cast<int64_t>(first.channel_names.size()), T = first.num_samples;
  Tensor signals = Tensor::empty({n, C, T}, DType::kF32);
  Tensor labels = Tensor::empty({n}, DType::kI32);
  Tensor subjects = Tensor::empty({n}, DType::kI32);
  Tensor runs = Tensor::empty({n}, DType::kI32);
  int64_t row = 0;
  for (const FileEpochs& fe : done) {
    std::copy(fe.signals.begin(), fe.signals.end(), signals.data<float>() + row * C * T);
    for (int32_t label : fe.labels) {
      labels.data<int32_t>()[row] = label;
      subjects.data<int32_t>()[row] = fe.subject;
      runs.data<int32_t>()[row] = fe.run;
      ++row;
    }
  }
  std::string joined;
  for (const std::string& s : sources) joined += (joined.empty() ? "" : "\n") + s;
  const bool filtered = options.band_lo_hz > 0 || options.band_hi_hz > 0;
  write_file_atomically(output, [&](hid_t file) {
    write_attr_string(file, "attncamp_schema", "eeg/1");
    write_attr_int(file, "num_classes", static_cast<int64_t>(class_names.size()));
    write_attr_double(file, "sample_rate_hz", first.sample_rate_hz);
    write_attr_double(
        file, "tmin_s",
        static_cast<double>(round_half_even(options.tmin_s * first.sample_rate_hz)) / first.sample_rate_hz);
    write_attr_doubles(
        file, "band_hz",
        filtered ? std::vector<double>{options.band_lo_hz, options.band_hi_hz} : std::vector<double>{0.0, 0.0});
    write_attr_int(file, "car", options.car ? 1 : 0);
    write_attr_string(file, "source_files", joined);
    write_string_dataset(file, "class_names", class_names);
    write_string_dataset(file, "channel_names", first.channel_names);
    write_tensor(file, "signals", signals);
    write_tensor(file, "labels", labels);
    write_tensor(file, "subjects", subjects);
    write_tensor(file, "runs", runs);
  });
  summary.written = n;
  summary.outputs.push_back(output);
  return summary;
}

EegDataset read_eeg(const std::string& path) {
  H5Id file = open_file(path);
  const hid_t f = file.get();
  check_schema(f, path, "eeg/1");
  EegDataset d;
  d.signals = read_tensor(f, "signals", DType::kF32, 3);
  d.labels = read_tensor(f, "labels", DType::kI32, 1);
  d.subjects = read_tensor(f, "subjects", DType::kI32, 1);
  d.runs = read_tensor(f, "runs", DType::kI32, 1);
  d.channel_names = read_string_dataset(f, "channel_names");
  d.class_names = read_string_dataset(f, "class_names");
  d.sample_rate_hz = read_attr_double(f, "sample_rate_hz");
  d.tmin_s = read_attr_double(f, "tmin_s");
  d.band_hz = read_attr_doubles(f, "band_hz");
  const int64_t n = d.signals.size(0);
  for (const auto& [name, t] :
       {std::pair<const char*, const Tensor*>{"labels", &d.labels}, {"subjects", &d.subjects}, {"runs", &d.runs}}) {
    if (t->size(0) != n) ATTNCAMP_THROW(path, ": dataset /", name, " has ", t->size(0), " rows, /signals has ", n);
  }
  if (static_cast<int64_t>(d.channel_names.size()) != d.signals.size(1)) {
    ATTNCAMP_THROW(path, ": dataset /channel_names has ", d.channel_names.size(), " names, /signals has ",
                   d.signals.size(1), " channels");
  }
  const int64_t k = read_attr_int(f, "num_classes");
  if (static_cast<int64_t>(d.class_names.size()) != k) {
    ATTNCAMP_THROW(path, ": dataset /class_names has ", d.class_names.size(), " names, num_classes is ", k);
  }
  if (d.band_hz.size() != 2) ATTNCAMP_THROW(path, ": attribute band_hz has ", d.band_hz.size(), " values, expected 2");
  for (int64_t i = 0; i < n; ++i) {
    const int32_t label = d.labels.data<int32_t>()[i];
    if (label < 0 || label >= k)
      ATTNCAMP_THROW(path, ": dataset /labels[", i, "] = ", label, " is outside [0, ", k, ")");
  }
  return d;
}

}  // namespace attncamp::data
