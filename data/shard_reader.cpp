// Sharded classification/1 and eeg/1 readers: metadata and labels at open, sample rows on
// demand by hyperslab in coalesced runs of consecutive indices.
#include "data/shard_reader.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace attncamp::data {

std::vector<std::pair<int64_t, int64_t>> coalesce_rows(const std::vector<int64_t>& sorted) {
  std::vector<std::pair<int64_t, int64_t>> runs;
  for (const int64_t i : sorted) {
    if (!runs.empty() && runs.back().second == i) {
      ++runs.back().second;
    } else {
      runs.emplace_back(i, i + 1);
    }
  }
  return runs;
}

namespace {

// Positions of `indices` sorted by index; checks range and distinctness.
std::vector<size_t> sorted_order(const std::vector<int64_t>& indices, int64_t n, const std::string& what) {
  std::vector<size_t> order(indices.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return indices[a] < indices[b]; });
  for (size_t k = 0; k < order.size(); ++k) {
    const int64_t i = indices[order[k]];
    ATTNCAMP_CHECK(i >= 0 && i < n, what, ": sample index ", i, " is outside [0, ", n, ")");
    ATTNCAMP_CHECK(k == 0 || indices[order[k - 1]] != i, what, ": sample index ", i, " requested twice");
  }
  return order;
}

std::vector<int32_t> read_labels(hid_t file, const std::string& path, int64_t num_classes) {
  const Tensor t = read_tensor(file, "labels", DType::kI32, 1);
  std::vector<int32_t> labels(t.data<int32_t>(), t.data<int32_t>() + t.numel());
  for (size_t i = 0; i < labels.size(); ++i) {
    ATTNCAMP_CHECK(num_classes <= 0 || (labels[i] >= 0 && labels[i] < num_classes), path, ": /labels[", i,
                   "] = ", labels[i], " is outside [0, ", num_classes, ")");
  }
  return labels;
}

}  // namespace

ClassificationShardReader::ClassificationShardReader(const std::string& path) : path_(path) {
  file_ = open_file(path);
  check_schema(file_.get(), path, "classification/1");
  num_classes_ = read_attr_int(file_.get(), "num_classes");
  ATTNCAMP_CHECK(num_classes_ > 0, path, ": num_classes = ", num_classes_, " must be > 0");
  const H5Id images = open_dataset(file_.get(), "images");
  const std::string encoding = read_attr_string(images.get(), "encoding");
  const Shape shape = dataset_shape(file_.get(), "images");
  if (encoding == "jpeg") {
    jpeg_ = true;
    channels_ = 3;
    ATTNCAMP_CHECK(shape.size() == 1, path, ": dataset /images (jpeg) has rank ", shape.size(), ", expected 1");
  } else {
    ATTNCAMP_CHECK(encoding == "raw", path, ": /images encoding '", encoding, "' is not 'raw' or 'jpeg'");
    const std::string type = dataset_type_name(file_.get(), "images");
    ATTNCAMP_CHECK(type == "uint8", path, ": dataset /images has dtype ", type, ", expected uint8");
    ATTNCAMP_CHECK(shape.size() == 4, path, ": dataset /images has rank ", shape.size(), " (shape ", shape_str(shape),
                   "), expected rank 4");
    height_ = static_cast<int>(shape[1]);
    width_ = static_cast<int>(shape[2]);
    channels_ = static_cast<int>(shape[3]);
  }
  labels_ = read_labels(file_.get(), path, num_classes_);
  ATTNCAMP_CHECK(static_cast<int64_t>(labels_.size()) == shape[0], path, ": /labels has ", labels_.size(),
                 " rows but /images has ", shape[0]);
}

std::string ClassificationShardReader::sample_name(int64_t index) const {
  return path_ + " /images[" + std::to_string(index) + "]";
}

std::vector<EncodedImage> ClassificationShardReader::read(const std::vector<int64_t>& indices) const {
  const std::vector<size_t> order = sorted_order(indices, size(), path_);
  std::vector<int64_t> sorted(order.size());
  for (size_t k = 0; k < order.size(); ++k) sorted[k] = indices[order[k]];
  std::vector<EncodedImage> out(indices.size());
  size_t k = 0;  // position in `sorted` of the run's first row
  for (const auto& [begin, end] : coalesce_rows(sorted)) {
    if (jpeg_) {
      std::vector<std::vector<uint8_t>> rows = read_vlen_bytes_rows(file_.get(), "images", begin, end);
      for (int64_t r = 0; r < end - begin; ++r) out[order[k + r]].bytes = std::move(rows[r]);
    } else {
      const Tensor rows = read_rows(file_.get(), "images", begin, end, DType::kU8);
      const size_t row_bytes = static_cast<size_t>(height_) * width_ * channels_;
      const uint8_t* p = rows.data<uint8_t>();
      for (int64_t r = 0; r < end - begin; ++r) {
        EncodedImage& e = out[order[k + r]];
        e.bytes.assign(p + r * row_bytes, p + (r + 1) * row_bytes);
        e.raw = true;
        e.height = height_;
        e.width = width_;
        e.channels = channels_;
      }
    }
    k += static_cast<size_t>(end - begin);
    rows_read_ += end - begin;
  }
  for (size_t j = 0; j < indices.size(); ++j) {
    out[j].index = indices[j];
    out[j].label = labels_[indices[j]];
  }
  return out;
}

EegShardReader::EegShardReader(const std::string& path) : path_(path) {
  file_ = open_file(path);
  check_schema(file_.get(), path, "eeg/1");
  const Shape shape = dataset_shape(file_.get(), "signals");
  ATTNCAMP_CHECK(shape.size() == 3, path, ": dataset /signals has rank ", shape.size(), " (shape ", shape_str(shape),
                 "), expected rank 3 [N, C, T]");
  const std::string type = dataset_type_name(file_.get(), "signals");
  ATTNCAMP_CHECK(type == "float32", path, ": dataset /signals has dtype ", type, ", expected float32");
  channels_ = shape[1];
  samples_ = shape[2];
  const int64_t classes = has_attr(file_.get(), "num_classes") ? read_attr_int(file_.get(), "num_classes") : 0;
  labels_ = read_labels(file_.get(), path, classes);
  ATTNCAMP_CHECK(static_cast<int64_t>(labels_.size()) == shape[0], path, ": /labels has ", labels_.size(),
                 " rows but /signals has ", shape[0]);
}

Tensor EegShardReader::read(const std::vector<int64_t>& indices) const {
  const std::vector<size_t> order = sorted_order(indices, size(), path_);
  std::vector<int64_t> sorted(order.size());
  for (size_t k = 0; k < order.size(); ++k) sorted[k] = indices[order[k]];
  const int64_t row = channels_ * samples_;
  Tensor out = Tensor::empty({static_cast<int64_t>(indices.size()), channels_, samples_}, DType::kF32);
  float* dst = out.data<float>();
  size_t k = 0;
  for (const auto& [begin, end] : coalesce_rows(sorted)) {
    const Tensor rows = read_rows(file_.get(), "signals", begin, end, DType::kF32);
    const float* p = rows.data<float>();
    for (int64_t r = 0; r < end - begin; ++r) {
      const float* src = p + r * row;
      for (int64_t e = 0; e < row; ++e) {
        ATTNCAMP_CHECK(std::isfinite(src[e]), path_, ": /signals[", begin + r, "] has a non-finite value (", src[e],
                       ") at channel ", e / samples_, ", time ", e % samples_);
      }
      std::copy(src, src + row, dst + static_cast<int64_t>(order[k + r]) * row);
    }
    k += static_cast<size_t>(end - begin);
    rows_read_ += end - begin;
  }
  return out;
}

}  // namespace attncamp::data
