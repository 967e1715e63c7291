// Loader: the batch buffer pool, batch sources for classification/1, eeg/1 and detection/1, the
// rank's batch plan, the worker threads with an in-order bounded queue, and the benchmark.
#include "data/loader.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "data/detection.h"
#include "data/sampler.h"

namespace attncamp::data {

namespace {

// Rethrows the current exception as one Error whose message names `sample` (once).
[[noreturn]] void rethrow_naming(const std::string& sample) {
  try {
    throw;
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    if (msg.find(sample) != std::string::npos) throw Error(msg);
    throw Error(sample + ": " + msg);
  }
}

}  // namespace

Tensor TensorPool::take(const Shape& shape, DType dtype) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t k = 0; k < spares_.size(); ++k) {
      if (spares_[k].shape() == shape && spares_[k].dtype() == dtype) {
        Tensor t = std::move(spares_[k]);
        spares_.erase(spares_.begin() + static_cast<std::ptrdiff_t>(k));
        return t;
      }
    }
  }
  return pinned_ ? Tensor::empty_pinned(shape, dtype) : Tensor::empty(shape, dtype);
}

void TensorPool::give(Tensor t) {
  if (!t.defined() || !t.device().is_cpu() || t.is_pinned() != pinned_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (spares_.size() < capacity_) spares_.push_back(std::move(t));
}

namespace {
Tensor take(TensorPool* pool, const Shape& shape, DType dtype) {
  return pool != nullptr ? pool->take(shape, dtype) : Tensor::empty(shape, dtype);
}
}  // namespace

ClassificationSource::ClassificationSource(const std::string& path, ClassificationAugment augment, uint64_t seed,
                                           bool normalize)
    : reader_(path), augment_(augment), seed_(seed), normalize_(normalize) {
  ATTNCAMP_CHECK(augment_.size > 0, "ClassificationSource: size must be > 0, got ", augment_.size);
}

Batch ClassificationSource::make_batch(const std::vector<int64_t>& indices, int64_t epoch, TensorPool* pool) const {
  const std::vector<EncodedImage> encoded = reader_.read(indices);
  const int64_t b = static_cast<int64_t>(indices.size()), s = augment_.size, c = reader_.channels();
  Batch batch;
  batch.indices = indices;
  batch.inputs = take(pool, {b, s, s, c}, normalize_ ? DType::kF32 : DType::kU8);
  batch.labels = Tensor::empty({b}, DType::kI32);
  for (int64_t i = 0; i < b; ++i) {
    const EncodedImage& e = encoded[i];
    const std::string name = reader_.sample_name(e.index);
    try {
      Image img;
      if (e.raw) {
        img.height = e.height;
        img.width = e.width;
        img.channels = e.channels;
        img.pixels = e.bytes;
      } else {
        img = decode_image(e.bytes.data(), e.bytes.size(), static_cast<int>(c), name);
      }
      const Image out = augment_classification(img, augment_, SampleRng(seed_, epoch, e.index));
      ATTNCAMP_CHECK(out.height == s && out.width == s && out.channels == c, "augmented image is ", out.height, "x",
                     out.width, "x", out.channels, ", expected ", s, "x", s, "x", c);
      const int64_t pixels = s * s;
      if (normalize_) {
        ATTNCAMP_CHECK(c == 3 || c == 1, "normalisation needs 1 or 3 channels, got ", c);
        float grey_mean = 0.449f, grey_std = 0.226f;
        normalize_hwc(out.pixels.data(), pixels, static_cast<int>(c), c == 3 ? kImagenetMean : &grey_mean,
                      c == 3 ? kImagenetStd : &grey_std, batch.inputs.data<float>() + i * pixels * c);
      } else {
        std::memcpy(batch.inputs.data<uint8_t>() + i * pixels * c, out.pixels.data(), out.pixels.size());
      }
    } catch (...) {
      rethrow_naming(name);
    }
    batch.labels.data<int32_t>()[i] = e.label;
  }
  return batch;
}

EegSource::EegSource(const std::string& path, EegAugment augment, uint64_t seed)
    : reader_(path), augment_(augment), seed_(seed) {
  ATTNCAMP_CHECK(augment_.length >= 0 && augment_.length <= reader_.samples(), path, ": EEG crop length ",
                 augment_.length, " is outside [0, ", reader_.samples(), "]");
}

Batch EegSource::make_batch(const std::vector<int64_t>& indices, int64_t epoch, TensorPool* pool) const {
  const Tensor raw = reader_.read(indices);
  const int64_t b = static_cast<int64_t>(indices.size()), ch = reader_.channels(), t = reader_.samples();
  const int64_t len = augment_.length > 0 ? augment_.length : t;
  Batch batch;
  batch.indices = indices;
  batch.inputs = take(pool, {b, ch, len}, DType::kF32);
  batch.labels = Tensor::empty({b}, DType::kI32);
  for (int64_t i = 0; i < b; ++i) {
    augment_eeg(raw.data<float>() + i * ch * t, ch, t, augment_, SampleRng(seed_, epoch, indices[i]),
                batch.inputs.data<float>() + i * ch * len);
    batch.labels.data<int32_t>()[i] = reader_.labels()[indices[i]];
  }
  return batch;
}

struct DetectionSource::State {
  DetectionData meta;
  H5Id file;
};

DetectionSource::DetectionSource(const std::string& path, int canvas, bool train, uint64_t seed, bool normalize)
    : state_(std::make_unique<State>()), canvas_(canvas), train_(train), seed_(seed), normalize_(normalize) {
  ATTNCAMP_CHECK(canvas > 0, "DetectionSource: canvas must be > 0, got ", canvas);
  state_->meta = load_detection(path);
  state_->file = open_file(path);
}

DetectionSource::~DetectionSource() = default;

int64_t DetectionSource::size() const { return state_->meta.size(); }

Batch DetectionSource::make_batch(const std::vector<int64_t>& indices, int64_t epoch, TensorPool* pool) const {
  const DetectionData& m = state_->meta;
  const int64_t b = static_cast<int64_t>(indices.size()), s = canvas_;
  std::vector<int64_t> sorted = indices;
  std::sort(sorted.begin(), sorted.end());
  for (size_t k = 0; k < sorted.size(); ++k) {
    ATTNCAMP_CHECK(sorted[k] >= 0 && sorted[k] < m.size(), m.path, ": sample index ", sorted[k], " is outside [0, ",
                   m.size(), ")");
    ATTNCAMP_CHECK(k == 0 || sorted[k] != sorted[k - 1], m.path, ": sample index ", sorted[k], " requested twice");
  }
  std::map<int64_t, std::vector<uint8_t>> bytes;
  for (const auto& [begin, end] : coalesce_rows(sorted)) {
    std::vector<std::vector<uint8_t>> rows = read_detection_images(state_->file.get(), begin, end);
    for (int64_t r = 0; r < end - begin; ++r) bytes[begin + r] = std::move(rows[r]);
  }
  Batch batch;
  batch.indices = indices;
  // Every element is written: letterbox pads with 0, normalisation leaves the padding at 0.
  batch.inputs = take(pool, {b, s, s, 3}, normalize_ ? DType::kF32 : DType::kU8);
  batch.mask = Tensor::zeros({b, s, s}, DType::kU8);
  batch.box_offsets = Tensor::empty({b + 1}, DType::kI64);
  std::vector<float> boxes;
  std::vector<int32_t> labels;
  int64_t* offsets = batch.box_offsets.data<int64_t>();
  offsets[0] = 0;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t idx = indices[i];
    const std::string name = m.path + " /images[" + std::to_string(idx) + "]";
    std::vector<float> mine(m.boxes.begin() + 4 * m.box_offsets[idx], m.boxes.begin() + 4 * m.box_offsets[idx + 1]);
    try {
      const std::vector<uint8_t>& jpeg = bytes[idx];
      const Image img = decode_image(jpeg.data(), jpeg.size(), 3, name);
      Letterbox lb = letterbox(img, canvas_);
      scale_boxes(mine, lb.scale);
      uint8_t* px = lb.image.pixels.data();
      if (train_ && SampleRng(seed_, epoch, idx).uniform(0) < 0.5f) {
        for (int y = 0; y < lb.new_h; ++y) {  // mirror only the image part of the row
          uint8_t* row = px + static_cast<int64_t>(y) * s * 3;
          for (int l = 0, r = lb.new_w - 1; l < r; ++l, --r) {
            for (int c = 0; c < 3; ++c) std::swap(row[3 * l + c], row[3 * r + c]);
          }
        }
        flip_boxes(mine, static_cast<float>(lb.new_w));
      }
      std::memcpy(batch.mask.data<uint8_t>() + i * s * s, lb.mask.data(), lb.mask.size());
      if (normalize_) {
        float* dst = batch.inputs.data<float>() + i * s * s * 3;
        normalize_hwc(px, s * s, 3, kImagenetMean, kImagenetStd, dst);
        for (int64_t p = 0; p < s * s; ++p) {
          if (lb.mask[static_cast<size_t>(p)] == 0) dst[3 * p] = dst[3 * p + 1] = dst[3 * p + 2] = 0.0f;
        }
      } else {
        std::memcpy(batch.inputs.data<uint8_t>() + i * s * s * 3, px, lb.image.pixels.size());
      }
    } catch (...) {
      rethrow_naming(name);
    }
    boxes.insert(boxes.end(), mine.begin(), mine.end());
    labels.insert(labels.end(), m.box_labels.begin() + m.box_offsets[idx],
                  m.box_labels.begin() + m.box_offsets[idx + 1]);
    offsets[i + 1] = static_cast<int64_t>(labels.size());
  }
  const int64_t nb = static_cast<int64_t>(labels.size());
  batch.boxes = Tensor::empty({nb, 4}, DType::kF32);
  batch.box_labels = Tensor::empty({nb}, DType::kI32);
  std::copy(boxes.begin(), boxes.end(), batch.boxes.data<float>());
  std::copy(labels.begin(), labels.end(), batch.box_labels.data<int32_t>());
  return batch;
}

std::vector<std::vector<int64_t>> rank_batches(int64_t n, uint64_t seed, int64_t epoch, int64_t global_batch,
                                               int64_t ranks, int64_t rank, int64_t accumulation, int64_t first_step) {
  ATTNCAMP_CHECK(global_batch > 0 && ranks > 0 && rank >= 0 && rank < ranks && accumulation > 0 && first_step >= 0,
                 "rank_batches: global_batch ", global_batch, ", rank ", rank, " of ", ranks, ", accumulation ",
                 accumulation, ", first_step ", first_step);
  const std::vector<int64_t> order = epoch_permutation(n, seed, epoch);
  std::vector<std::vector<int64_t>> out;
  for (int64_t gb = first_step * global_batch; gb < n; gb += global_batch) {
    const int64_t count = std::min(n, gb + global_batch) - gb;
    const Range mine = split_range(count, ranks, rank);
    for (int64_t micro = 0; micro < accumulation; ++micro) {
      const Range part = split_range(mine.size(), accumulation, micro);
      if (part.size() == 0) continue;
      const auto first = order.begin() + gb + mine.begin + part.begin;
      out.emplace_back(first, first + part.size());
    }
  }
  return out;
}

Loader::Loader(std::shared_ptr<const BatchSource> source, std::vector<std::vector<int64_t>> batches, int64_t epoch,
               LoaderOptions options)
    : source_(std::move(source)), batches_(std::move(batches)), epoch_(epoch), options_(std::move(options)) {
  ATTNCAMP_CHECK(options_.threads >= 1, "loader: threads must be >= 1, got ", options_.threads);
  ATTNCAMP_CHECK(options_.prefetch >= 1, "loader: prefetch must be >= 1, got ", options_.prefetch);
  if (!options_.pool) options_.pool = std::make_shared<TensorPool>(static_cast<size_t>(options_.prefetch) + 2);
  for (int t = 0; t < options_.threads; ++t) workers_.emplace_back([this] { work(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void Loader::recycle(Batch&& batch) {
  options_.pool->give(std::move(batch.inputs));
  batch = Batch{};
}

int Loader::max_in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_in_flight_;
}

void Loader::work() {
  const int64_t n = num_batches();
  for (;;) {
    int64_t b = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || next_start_ >= n || next_start_ < consumed_ + options_.prefetch; });
      if (stop_ || next_start_ >= n) return;
      b = next_start_++;
      max_in_flight_ = std::max(max_in_flight_, static_cast<int>(next_start_ - consumed_));
    }
    Batch batch;
    std::string error;
    try {
      batch = source_->make_batch(batches_[b], epoch_, options_.pool.get());
      batch.number = b;
      if (options_.on_ready) options_.on_ready(batch);
    } catch (const std::exception& e) {
      error = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (error.empty()) {
        ready_.emplace(b, std::move(batch));
      } else {
        errors_.emplace(b, "loader, batch " + std::to_string(b) + ": " + error);
      }
    }
    cv_.notify_all();
  }
}

bool Loader::next(Batch& out) {
  std::unique_lock<std::mutex> lock(mu_);
  ATTNCAMP_CHECK(!stop_, "loader: next() called after an error");
  if (consumed_ >= num_batches()) return false;
  cv_.wait(lock, [&] { return ready_.count(consumed_) > 0 || errors_.count(consumed_) > 0; });
  const auto err = errors_.find(consumed_);
  if (err != errors_.end()) {
    stop_ = true;
    const std::string msg = err->second;
    lock.unlock();
    cv_.notify_all();
    throw Error(msg);
  }
  auto it = ready_.find(consumed_);
  out = std::move(it->second);
  ready_.erase(it);
  ++consumed_;
  lock.unlock();
  cv_.notify_all();
  return true;
}

LoaderBenchResult bench_loader(const std::string& path, int threads, int64_t batch, double seconds) {
  ClassificationAugment aug;
  auto probe = std::make_shared<ClassificationSource>(path, aug, 0, true);
  if (!probe->reader().jpeg()) {
    aug.random_resized_crop = false;
    aug.size = probe->reader().height();
    ATTNCAMP_CHECK(probe->reader().height() == probe->reader().width(), path, ": raw images must be square, got ",
                   probe->reader().height(), "x", probe->reader().width());
    probe = std::make_shared<ClassificationSource>(path, aug, 0, true);
  }
  LoaderBenchResult r;
  r.encoding = probe->reader().jpeg() ? "jpeg" : "raw";
  r.threads = threads;
  r.batch = batch;
  const auto t0 = std::chrono::steady_clock::now();
  auto pool = std::make_shared<TensorPool>(static_cast<size_t>(2 * threads + 4));
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  for (int64_t epoch = 0; elapsed() < seconds; ++epoch) {
    LoaderOptions opt;
    opt.threads = threads;
    opt.prefetch = std::max(2, 2 * threads);
    opt.pool = pool;
    Loader loader(probe, rank_batches(probe->size(), 0, epoch, batch, 1, 0), epoch, opt);
    Batch b;
    while (elapsed() < seconds && loader.next(b)) {
      r.images += static_cast<int64_t>(b.indices.size());
      loader.recycle(std::move(b));  // as a trainer does once the batch is uploaded
    }
  }
  r.seconds = elapsed();
  r.images_per_second = static_cast<double>(r.images) / r.seconds;
  return r;
}

}  // namespace attncamp::data
