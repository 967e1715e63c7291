// ImageNet conversion: list (folder layout or label file, sorted by path), then in chunks of
// opts.chunk images decode + resize + encode in parallel (OpenMP, one image per iteration, errors
// kept per image), and write the chunk's good images in listing order into contiguous datasets.
#include "data/imagenet.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "data/hdf5.h"
#include "data/image_codec.h"
#include "runtime/error.h"

namespace attncamp::data {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, '\t')) out.push_back(field);
  if (!line.empty() && line.back() == '\t') out.emplace_back();
  return out;
}

std::string strip(const std::string& s) {
  const size_t b = s.find_first_not_of(" \r\n");
  const size_t e = s.find_last_not_of(" \r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

int64_t parse_int(const std::string& text, const std::string& where) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) ATTNCAMP_THROW(where, ": \"", text, "\" is not an integer");
  return v;
}

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpeg" || ext == ".jpg" || ext == ".png";
}

// Column index of the first of `names` in `header`, or -1.
int column(const std::vector<std::string>& header, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (strip(header[i]) == name) return static_cast<int>(i);
    }
  }
  return -1;
}

// One image's result: JPEG bytes or pixels, or the error that stopped it.
struct Processed {
  std::vector<uint8_t> jpeg;
  Image image;
  std::string error;
};

Processed process(const ImagenetOptions& opts, const std::string& path) {
  Processed out;
  try {
    const std::vector<uint8_t> bytes = read_file_bytes(path);
    Image img = resize_shorter_side(decode_image(bytes.data(), bytes.size(), 3, path), opts.size, opts.crop);
    if (opts.encoding == "jpeg") {
      out.jpeg = encode_jpeg(img, opts.quality, path);
    } else {
      out.image = std::move(img);
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

// Writes everything but the pixels: root attributes, /class_names and an empty contiguous
// /images of n rows with its attributes.
void write_header(hid_t file, const ImagenetOptions& opts, const ImagenetListing& listing, int64_t n) {
  write_attr_string(file, "attncamp_schema", "classification/1");
  write_attr_int(file, "num_classes", listing.num_classes);
  write_string_dataset(file, "class_names", listing.class_names);
  const bool jpeg = opts.encoding == "jpeg";
  if (jpeg) {
    create_vlen_bytes(file, "images", n);
  } else {
    create_dataset(file, "images", DType::kU8, {n, opts.size, opts.size, 3});
  }
  H5Id ds = open_dataset(file, "images");
  write_attr_string(ds.get(), "encoding", opts.encoding);
  write_attr_int(ds.get(), "resize_shorter_side", opts.size);
  write_attr_int(ds.get(), "center_crop", opts.crop ? 1 : 0);
  if (jpeg) write_attr_int(ds.get(), "jpeg_quality", opts.quality);
  ds.close(file_name_of(file) + ": dataset /images");
}

void write_labels_and_sources(hid_t file, const std::vector<int32_t>& labels, const std::vector<std::string>& sources) {
  Tensor t = Tensor::empty({static_cast<int64_t>(labels.size())}, DType::kI32);
  std::copy(labels.begin(), labels.end(), t.data<int32_t>());
  write_tensor(file, "labels", t);
  write_string_dataset(file, "sources", sources);
}

// Copies rows [0, n) of /images from `from` into `to`'s (already created) /images, chunk rows
// at a time.
void copy_image_rows(hid_t from, hid_t to, const ImagenetOptions& opts, int64_t n) {
  for (int64_t begin = 0; begin < n; begin += opts.chunk) {
    const int64_t end = std::min(n, begin + opts.chunk);
    if (opts.encoding == "jpeg") {
      write_vlen_bytes_rows(to, "images", begin, read_vlen_bytes_rows(from, "images", begin, end));
    } else {
      write_rows(to, "images", begin, read_rows(from, "images", begin, end, DType::kU8));
    }
  }
}

// Removes a file when destroyed unless released (the uncompacted first pass of a skip run).
struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit() {
    std::error_code ec;
    if (!path.empty()) fs::remove(path, ec);
  }
};

void check_options(const ImagenetOptions& opts) {
  ATTNCAMP_CHECK(!opts.input_dir.empty(), "convert imagenet: --input is required");
  ATTNCAMP_CHECK(!opts.output.empty(), "convert imagenet: --output is required");
  ATTNCAMP_CHECK(opts.size > 0, "convert imagenet: --size must be > 0, got ", opts.size);
  ATTNCAMP_CHECK(opts.chunk > 0, "convert imagenet: chunk must be > 0, got ", opts.chunk);
  if (opts.encoding != "jpeg" && opts.encoding != "raw") {
    ATTNCAMP_THROW("convert imagenet: --encoding must be \"jpeg\" or \"raw\", got \"", opts.encoding, "\"");
  }
  if (opts.encoding == "raw" && !opts.crop) {
    ATTNCAMP_THROW("convert imagenet: --encoding raw stores equal-sized images and needs --crop ",
                   "(or keep the aspect ratio with --encoding jpeg)");
  }
  ATTNCAMP_CHECK(opts.quality >= 1 && opts.quality <= 100, "convert imagenet: --quality must be in 1..100, got ",
                 opts.quality);
}

}  // namespace

ImagenetListing read_imagenet_labels(const std::string& labels_file) {
  std::ifstream in(labels_file);
  ATTNCAMP_CHECK(in.good(), labels_file, ": cannot open the label file (missing or no permission?)");
  ImagenetListing out;
  std::map<int32_t, std::string> names;  // class index -> wnid
  std::set<std::string> seen;
  std::vector<std::string> header;
  int col_label = -1, col_file = -1, col_name = -1;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    const std::string where = labels_file + ":" + std::to_string(line_no);
    const std::string text = strip(line);
    if (text.empty()) continue;
    if (text[0] == '#') {
      const size_t key = text.find("num_classes");
      if (key != std::string::npos) {
        const size_t sep = text.find_first_of(":=", key);
        ATTNCAMP_CHECK(sep != std::string::npos, where, ": expected \"# num_classes: K\"");
        out.num_classes = parse_int(strip(text.substr(sep + 1)), where + ": num_classes");
      }
      continue;
    }
    const std::vector<std::string> fields = split_tabs(text);
    if (header.empty()) {
      header = fields;
      col_label = column(header, {"class_index", "label"});
      col_file = column(header, {"file", "path"});
      col_name = column(header, {"wnid", "class_name"});
      if (col_label < 0 || col_file < 0) {
        ATTNCAMP_THROW(where,
                       ": header must name tab-separated columns class_index (or label) and file (or path), got \"",
                       text, "\"");
      }
      continue;
    }
    if (static_cast<int>(fields.size()) != static_cast<int>(header.size())) {
      ATTNCAMP_THROW(where, ": ", fields.size(), " tab-separated fields, the header has ", header.size());
    }
    const int64_t label = parse_int(strip(fields[col_label]), where + ": class_index");
    ATTNCAMP_CHECK(label >= 0 && label <= INT32_MAX, where, ": class_index ", label, " must be >= 0");
    const std::string file = strip(fields[col_file]);
    ATTNCAMP_CHECK(!file.empty(), where, ": empty file name");
    ATTNCAMP_CHECK(seen.insert(file).second, where, ": file \"", file, "\" is listed twice");
    if (col_name >= 0) {
      const std::string name = strip(fields[col_name]);
      auto [it, fresh] = names.emplace(static_cast<int32_t>(label), name);
      if (!fresh && it->second != name) {
        ATTNCAMP_THROW(where, ": class_index ", label, " is \"", name, "\" here but \"", it->second, "\" earlier");
      }
    }
    out.samples.push_back({file, static_cast<int32_t>(label)});
  }
  ATTNCAMP_CHECK(!header.empty(), labels_file, ": the label file is empty (expected a header line)");
  int64_t max_label = -1;
  for (const auto& s : out.samples) max_label = std::max<int64_t>(max_label, s.label);
  if (out.num_classes == 0) out.num_classes = max_label + 1;
  if (max_label >= out.num_classes) {
    ATTNCAMP_THROW(labels_file, ": class_index ", max_label, " is outside [0, ", out.num_classes,
                   ") (num_classes from the file's \"# num_classes\" line)");
  }
  out.class_names.assign(static_cast<size_t>(std::max<int64_t>(out.num_classes, 0)), "");
  for (const auto& [label, name] : names) out.class_names[label] = name;
  std::sort(out.samples.begin(), out.samples.end(),
            [](const ImagenetSample& a, const ImagenetSample& b) { return a.source < b.source; });
  return out;
}

ImagenetListing list_imagenet(const ImagenetOptions& opts) {
  ImagenetListing out;
  if (!opts.labels_file.empty()) {
    out = read_imagenet_labels(opts.labels_file);
  } else {
    std::error_code ec;
    ATTNCAMP_CHECK(fs::is_directory(opts.input_dir, ec), opts.input_dir, ": input folder not found");
    for (const auto& entry : fs::directory_iterator(opts.input_dir)) {
      if (entry.is_directory() && entry.path().filename().string()[0] != '.') {
        out.class_names.push_back(entry.path().filename().string());
      }
    }
    std::sort(out.class_names.begin(), out.class_names.end());
    ATTNCAMP_CHECK(!out.class_names.empty(), opts.input_dir,
                   ": no class folders found (expected <class>/<image> or a --labels file)");
    for (size_t c = 0; c < out.class_names.size(); ++c) {
      std::vector<std::string> files;
      for (const auto& entry : fs::directory_iterator(fs::path(opts.input_dir) / out.class_names[c])) {
        if (entry.is_regular_file() && is_image_name(entry.path())) {
          files.push_back(out.class_names[c] + "/" + entry.path().filename().string());
        }
      }
      std::sort(files.begin(), files.end());
      for (auto& f : files) out.samples.push_back({std::move(f), static_cast<int32_t>(c)});
    }
    out.num_classes = static_cast<int64_t>(out.class_names.size());
  }
  if (opts.num_classes > 0) {
    if (opts.num_classes < out.num_classes) {
      int32_t max_label = 0;
      for (const auto& s : out.samples) max_label = std::max(max_label, s.label);
      ATTNCAMP_CHECK(max_label < opts.num_classes, "convert imagenet: --num-classes ", opts.num_classes,
                     " but the input has class index ", max_label);
    }
    out.num_classes = opts.num_classes;
    out.class_names.resize(static_cast<size_t>(opts.num_classes));
  }
  ATTNCAMP_CHECK(!out.samples.empty(), opts.labels_file.empty() ? opts.input_dir : opts.labels_file,
                 ": no images found (extensions .jpeg, .jpg, .png)");
  return out;
}

ConvertSummary convert_imagenet(const ImagenetOptions& opts, const ConvertOptions& convert) {
  check_options(opts);
  const ImagenetListing listing = list_imagenet(opts);
  const int64_t total = static_cast<int64_t>(listing.samples.size());
  const int threads = convert.threads > 0 ? convert.threads : omp_get_max_threads();
  const fs::path parent = fs::path(opts.output).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) ATTNCAMP_THROW(parent.string(), ": cannot create output folder (", ec.message(), ")");
  }
  // Datasets are contiguous and sized up front. With --on-error skip the count is known only at
  // the end, so the first pass goes to a side file; if nothing was skipped it is renamed into
  // place, else its first `written` rows are copied into the output (no decoding again).
  const bool may_skip = convert.on_error == OnError::kSkip;
  RemoveOnExit side{may_skip ? opts.output + ".unskipped-" + std::to_string(::getpid()) : ""};
  ConvertSummary summary;
  std::vector<int32_t> labels;
  std::vector<std::string> sources;
  write_file_atomically(may_skip ? side.path : opts.output, [&](hid_t file) {
    write_header(file, opts, listing, total);
    for (int64_t begin = 0; begin < total; begin += opts.chunk) {
      const int64_t end = std::min(total, begin + opts.chunk);
      std::vector<Processed> done(static_cast<size_t>(end - begin));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
      for (int64_t i = begin; i < end; ++i) {
        done[i - begin] = process(opts, (fs::path(opts.input_dir) / listing.samples[i].source).string());
      }
      std::vector<std::vector<uint8_t>> jpegs;
      std::vector<const Image*> images;
      for (int64_t i = begin; i < end; ++i) {
        Processed& p = done[i - begin];
        const ImagenetSample& s = listing.samples[i];
        if (!p.error.empty()) {
          if (!may_skip) {
            ATTNCAMP_THROW("convert imagenet: sample ", i, " (", s.source, "): ", p.error,
                           " [use --on-error skip to leave such images out]");
          }
          summary.skipped += 1;
          summary.skipped_samples.push_back({s.source, p.error});
          continue;
        }
        labels.push_back(s.label);
        sources.push_back(s.source);
        if (opts.encoding == "jpeg") {
          jpegs.push_back(std::move(p.jpeg));
        } else {
          images.push_back(&p.image);
        }
      }
      const int64_t at = summary.written;
      if (opts.encoding == "jpeg") {
        write_vlen_bytes_rows(file, "images", at, jpegs);
        summary.written += static_cast<int64_t>(jpegs.size());
      } else if (!images.empty()) {
        const size_t row = static_cast<size_t>(opts.size) * opts.size * 3;
        Tensor rows = Tensor::empty({static_cast<int64_t>(images.size()), opts.size, opts.size, 3}, DType::kU8);
        for (size_t k = 0; k < images.size(); ++k) {
          std::copy(images[k]->pixels.begin(), images[k]->pixels.end(), rows.data<uint8_t>() + k * row);
        }
        write_rows(file, "images", at, rows);
        summary.written += static_cast<int64_t>(images.size());
      }
      if (convert.progress) convert.progress(end, total);
    }
    write_labels_and_sources(file, labels, sources);
  });
  if (may_skip && summary.skipped == 0) {
    std::error_code ec;
    fs::rename(side.path, opts.output, ec);
    if (ec) ATTNCAMP_THROW(opts.output, ": cannot rename ", side.path, " into place (", ec.message(), ")");
    side.path.clear();
  } else if (may_skip) {
    H5Id first = open_file(side.path);
    write_file_atomically(opts.output, [&](hid_t file) {
      write_header(file, opts, listing, summary.written);
      copy_image_rows(first.get(), file, opts, summary.written);
      write_labels_and_sources(file, labels, sources);
    });
  }
  summary.outputs.push_back(opts.output);
  return summary;
}

}  // namespace attncamp::data
