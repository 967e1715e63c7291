// Feeds host batches to a model on some device. On a GPU it keeps up to `depth` batches
// uploading ahead on a side stream (from pinned host memory when the producer hands pinned
// tensors, e.g. a Loader whose TensorPool is pinned), so a training step never waits for its
// input copy while the input pipeline keeps up; the compute stream waits for each batch's upload
// event only, never the host. On the CPU the host batches are handed through unchanged.
//
// Lifetime rule: the tensors of the batch next() returns stay valid until the following call of
// next() (or the feeder's destruction); the feeder then reuses their memory. The host batch goes
// back to `recycle` once its copy is done (on the CPU: at the following call of next()).
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "data/loader.h"
#include "runtime/device.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace attncamp::data {

class DeviceFeeder {
 public:
  using Produce = std::function<bool(Batch&)>;   // next host batch in order; false at the end
  using Recycle = std::function<void(Batch&&)>;  // a host batch nobody reads any more (may be empty)

  // Uploads `inputs` and `labels` of each batch (other fields stay on the host). `depth` >= 1
  // batches are uploaded ahead of the one in use.
  DeviceFeeder(Device device, Produce produce, Recycle recycle = {}, int depth = 2);
  // Waits for the side stream's queued copies, so no copy outlives the memory it writes.
  ~DeviceFeeder();
  DeviceFeeder(const DeviceFeeder&) = delete;
  DeviceFeeder& operator=(const DeviceFeeder&) = delete;

  // The next batch, inputs and labels on the device (ordered before everything the caller then
  // queues on its current stream); false at the end.
  bool next(Batch& out);

  // Feeds a Loader: produce = loader.next, recycle = loader.recycle.
  static std::unique_ptr<DeviceFeeder> over(Loader& loader, Device device, int depth = 2);

 private:
  struct Slot {
    Batch host;                     // the host batch being or having been uploaded
    Tensor inputs, labels;          // device copies
    Tensor pinned_labels;           // labels staged in page-locked memory
    std::unique_ptr<Event> copied;  // recorded on the side stream after the upload
    std::unique_ptr<Event> used;    // recorded on the compute stream when the batch is given up
  };
  bool upload_next();  // queues the next host batch into a free slot; false at the producer's end
  void release(Slot& slot);

  Device device_;
  Produce produce_;
  Recycle recycle_;
  int depth_;
  bool exhausted_ = false;
  std::unique_ptr<Stream> side_;  // CUDA only
  std::vector<Slot> slots_;
  std::deque<int> queued_;  // slots with an upload queued, in order
  int in_use_ = -1;         // slot handed out by the last next()
  Batch cpu_in_use_;        // CPU: the batch handed out by the last next()
};

}  // namespace attncamp::data
