// Sharded readers for classification/1 and eeg/1 files: each reader owns its own file handle
// and reads only the rows it is asked for, by hyperslab, never the whole file. A batch's
// indices are sorted and split into runs of consecutive rows, one read per run.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "data/hdf5.h"
#include "runtime/tensor.h"

namespace attncamp::data {

// Runs of consecutive values in `sorted` (ascending, distinct): [begin, end) row ranges.
// Reading a shuffled batch this way costs one hyperslab read per run instead of one per row;
// contiguous datasets need no chunk cache, so none is configured.
std::vector<std::pair<int64_t, int64_t>> coalesce_rows(const std::vector<int64_t>& sorted);

// One encoded classification sample: either raw pixels (u8 HWC, `height` x `width` x
// `channels`) or the JPEG/PNG bytes of one /images row.
struct EncodedImage {
  int64_t index = -1;  // row in the file
  std::vector<uint8_t> bytes;
  bool raw = false;
  int height = 0, width = 0, channels = 0;  // raw only
  int32_t label = 0;
};

// Reader of a classification/1 file (encoding "raw" or "jpeg"). Opening reads only the
// metadata and /labels (int32 [N], 4 bytes a sample) and validates the labels; images are read
// on demand. Thread-safe (the HDF5 library serialises calls; the counter is atomic).
class ClassificationShardReader {
 public:
  explicit ClassificationShardReader(const std::string& path);

  const std::string& path() const { return path_; }
  int64_t size() const { return static_cast<int64_t>(labels_.size()); }
  int64_t num_classes() const { return num_classes_; }
  bool jpeg() const { return jpeg_; }
  // Raw files: image shape [H, W, C]; JPEG files: channels stored (3) and H = W = 0.
  int height() const { return height_; }
  int width() const { return width_; }
  int channels() const { return channels_; }
  const std::vector<int32_t>& labels() const { return labels_; }

  // Reads the images of `indices` (any order, distinct, each in [0, size())); the result is in
  // the order of `indices`. Rows are read in coalesced runs (see coalesce_rows).
  std::vector<EncodedImage> read(const std::vector<int64_t>& indices) const;
  // Test hook: total /images rows read by this reader so far.
  int64_t rows_read() const { return rows_read_.load(); }

  // "FILE /images[IDX]": how errors name one sample.
  std::string sample_name(int64_t index) const;

 private:
  std::string path_;
  H5Id file_;
  bool jpeg_ = false;
  int height_ = 0, width_ = 0, channels_ = 0;
  int64_t num_classes_ = 0;
  std::vector<int32_t> labels_;
  mutable std::atomic<int64_t> rows_read_{0};
};

// Reader of an eeg/1 file: /signals f32 [N, C, T], /labels i32 [N]. Reads signal rows on demand.
class EegShardReader {
 public:
  explicit EegShardReader(const std::string& path);

  const std::string& path() const { return path_; }
  int64_t size() const { return static_cast<int64_t>(labels_.size()); }
  int64_t channels() const { return channels_; }
  int64_t samples() const { return samples_; }  // T, time samples per epoch
  const std::vector<int32_t>& labels() const { return labels_; }

  // f32 [indices.size(), C, T] in the order of `indices`; rows read in coalesced runs.
  // Throws naming the file, /signals and the index when a value is NaN or Inf.
  Tensor read(const std::vector<int64_t>& indices) const;
  int64_t rows_read() const { return rows_read_.load(); }

 private:
  std::string path_;
  H5Id file_;
  int64_t channels_ = 0, samples_ = 0;
  std::vector<int32_t> labels_;
  mutable std::atomic<int64_t> rows_read_{0};
};

}  // namespace attncamp::data
