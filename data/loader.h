// Prefetching loader: worker threads turn planned batches (lists of sample indices) into ready
// batches (read shard rows, decode, augment) and hand them to the consumer in plan order
// through a bounded queue. Results depend only on (seed, epoch, sample index), never on the
// number of threads; a worker's error is rethrown to the consumer.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/shard_reader.h"
#include "runtime/tensor.h"

namespace attncamp::data {

// One ready batch of B samples (host tensors, contiguous; a DeviceFeeder hands out device copies).
// Tensor fields a source does not fill stay undefined.
struct Batch {
  int64_t number = 0;            // position in the loader's plan
  std::vector<int64_t> indices;  // sample rows in the file, in batch order
  // classification: u8 [B, S, S, C] (or f32 normalised, see ClassificationSource);
  // eeg: f32 [B, C, L].
  Tensor inputs;
  Tensor labels;  // i32 [B] (classification, eeg)
  // detection only: padded images are `inputs` u8 [B, S, S, 3]; mask u8 [B, S, S] (1 = image,
  // 0 = padding); boxes of sample i are rows [box_offsets[i], box_offsets[i+1]) of boxes
  // f32 [M, 4] (x, y, w, h in canvas pixels) and box_labels i32 [M] (M may be 0); box_offsets
  // i64 [B + 1].
  Tensor mask, box_offsets, boxes, box_labels;
  // A batch from DeviceFeeder::next: the host batch its tensors were copied from (on the CPU, one
  // with the same tensors), for host-side metadata such as box_offsets; see DeviceFeeder for how
  // long it stays valid. Null for batches straight from a source or a Loader.
  std::shared_ptr<const Batch> host;

  // Calls f(name, tensor) for every tensor field above, in declaration order (defined or not):
  // the one list of them, so code that must treat every field (DeviceFeeder's upload) cannot miss
  // a new one. Add a new tensor field here too.
  template <class F>
  void for_each_tensor(F&& f) {
    for_each_tensor_of(*this, f);
  }
  template <class F>
  void for_each_tensor(F&& f) const {
    for_each_tensor_of(*this, f);
  }

 private:
  template <class B, class F>
  static void for_each_tensor_of(B& b, F& f) {
    f("inputs", b.inputs);
    f("labels", b.labels);
    f("mask", b.mask);
    f("box_offsets", b.box_offsets);
    f("boxes", b.boxes);
    f("box_labels", b.box_labels);
  }
};

// Recycled batch buffers: large host tensors (a 64 x 224 x 224 x 3 f32 batch is 38 MB) cost page
// faults and zeroing every time they are freshly mapped, about a third of the JPEG pipeline's
// time. take() returns a spare tensor of that shape and dtype (contents undefined) or a new one;
// give() keeps up to `capacity` spares. A `pinned` pool makes page-locked tensors (for batches a
// DeviceFeeder uploads to a GPU; needs CUDA) and keeps only those. Thread-safe.
class TensorPool {
 public:
  explicit TensorPool(size_t capacity = 16, bool pinned = false) : capacity_(capacity), pinned_(pinned) {}
  bool pinned() const { return pinned_; }
  Tensor take(const Shape& shape, DType dtype);
  void give(Tensor t);

 private:
  std::mutex mu_;
  size_t capacity_;
  bool pinned_;
  std::vector<Tensor> spares_;
};

// Produces one batch from its indices; called concurrently from worker threads, so it must be
// thread-safe and deterministic in (indices, epoch).
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t size() const = 0;  // samples in the file
  // `pool` (may be null) supplies the inputs tensor.
  virtual Batch make_batch(const std::vector<int64_t>& indices, int64_t epoch, TensorPool* pool) const = 0;
};

// classification/1 (raw or jpeg): decode (JPEG via image_codec), augment (ClassificationAugment),
// labels from /labels. Output u8 HWC images of the training size (the model's patchify
// normalises with one mean/std), or with `normalize` f32 HWC (x/255 - mean)/std per channel.
class ClassificationSource : public BatchSource {
 public:
  ClassificationSource(const std::string& path, ClassificationAugment augment, uint64_t seed, bool normalize = false);
  int64_t size() const override { return reader_.size(); }
  Batch make_batch(const std::vector<int64_t>& indices, int64_t epoch, TensorPool* pool) const override;
  const ClassificationShardReader& reader() const { return reader_; }

 private:
  ClassificationShardReader reader_;
  ClassificationAugment augment_;
  uint64_t seed_;
  bool normalize_;
};

// eeg/1: crop, standardise, noise (EegAugment); inputs f32 [B, C, L].
class EegSource : public BatchSource {
 public:
  EegSource(const std::string& path, EegAugment augment, uint64_t seed);
  int64_t size() const override { return reader_.size(); }
  Batch make_batch(const std::vector<int64_t>& indices, int64_t epoch, TensorPool* pool) const override;
  const EegShardReader& reader() const { return reader_; }

 private:
  EegShardReader reader_;
  EegAugment augment_;
  uint64_t seed_;
};

// detection/1: decode, letterbox onto an S x S canvas (aspect kept, zero padding, mask), flip
// with probability 1/2 when training (boxes mirrored within the resized image: x' = new_w - x - w),
// boxes scaled to canvas pixels. Images stay u8 (the model normalises), or with `normalize` f32
// HWC (x/255 - mean)/std with ImageNet's mean and std, padding 0. Metadata is read once; image
// bytes by hyperslab per run of consecutive rows.
class DetectionSource : public BatchSource {
 public:
  DetectionSource(const std::string& path, int canvas, bool train, uint64_t seed, bool normalize = false);
  ~DetectionSource() override;
  int64_t size() const override;
  Batch make_batch(const std::vector<int64_t>& indices, int64_t epoch, TensorPool* pool) const override;

 private:
  struct State;
  std::unique_ptr<State> state_;
  int canvas_;
  bool train_;
  uint64_t seed_;
  bool normalize_;
};

// This rank's batches of one epoch, as the trainer draws them (launch/distributed.cpp
// BatchPlan::micro_range): permutation epoch_permutation(n, seed, epoch); global step s covers
// positions [s*G, min(n, (s+1)*G)); rank `rank` of `ranks` takes split_range(count, ranks, rank)
// of it, cut into `accumulation` micro-batches by split_range again. Steps before `first_step`
// (a resumed epoch) and empty micro-batches (a short last step) are left out, as the trainer skips them.
std::vector<std::vector<int64_t>> rank_batches(int64_t n, uint64_t seed, int64_t epoch, int64_t global_batch,
                                               int64_t ranks, int64_t rank, int64_t accumulation = 1,
                                               int64_t first_step = 0);

struct LoaderOptions {
  int threads = 2;   // worker threads (>= 1)
  int prefetch = 4;  // at most this many batches in progress or ready (queue bound, >= 1)
  // Called by the worker on each batch once it is complete (e.g. copy into pinned memory or
  // start an upload); runs concurrently for different batches. May be empty.
  std::function<void(Batch&)> on_ready;
  // Where batch inputs come from and return to (Loader::recycle); null: the loader makes its
  // own. Share one across epochs' loaders to keep the buffers.
  std::shared_ptr<TensorPool> pool;
};

// Runs the plan `batches` of epoch `epoch` over `source`. next() returns them in plan order.
// Workers start batch b only while b < (batches consumed) + prefetch, so at most `prefetch`
// batches exist at once (backpressure). Destruction stops and joins the workers.
class Loader {
 public:
  Loader(std::shared_ptr<const BatchSource> source, std::vector<std::vector<int64_t>> batches, int64_t epoch,
         LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Next batch in plan order; false at the end of the plan. Rethrows a worker's error (its
  // message names the file and sample index) as attncamp::Error.
  bool next(Batch& out);
  // Hands a consumed batch's inputs tensor back for reuse (optional). Call only when nothing
  // else refers to it any more (e.g. after the upload; not while a CPU model still reads it).
  void recycle(Batch&& batch);
  int64_t num_batches() const { return static_cast<int64_t>(batches_.size()); }
  // Test hook: largest number of batches in progress or ready at any time.
  int max_in_flight() const;

 private:
  void work();

  std::shared_ptr<const BatchSource> source_;
  std::vector<std::vector<int64_t>> batches_;
  int64_t epoch_;
  LoaderOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t next_start_ = 0;  // next batch a worker takes
  int64_t consumed_ = 0;    // batches handed to the consumer
  int max_in_flight_ = 0;
  bool stop_ = false;
  std::map<int64_t, Batch> ready_;
  std::map<int64_t, std::string> errors_;
  std::vector<std::thread> workers_;
};

// Loader throughput on a classification/1 file: JPEG files get random-resized-crop 224 + flip,
// raw files flip only, both normalised to f32 HWC (what torchvision's ToTensor + Normalize do).
// Runs whole epochs (one rank, seed 0) until `seconds` have passed.
struct LoaderBenchResult {
  std::string encoding;  // "jpeg" or "raw"
  int threads = 0;
  int64_t batch = 0;
  int64_t images = 0;
  double seconds = 0;
  double images_per_second = 0;
};
LoaderBenchResult bench_loader(const std::string& path, int threads, int64_t batch, double seconds);

}  // namespace attncamp::data
