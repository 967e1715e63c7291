// Feeds host batches to a model on some device. On a GPU it uploads every defined tensor field of
// a batch (Batch::for_each_tensor: inputs, labels, and for detection mask, box_offsets, boxes,
// box_labels, whose sizes change from batch to batch) and keeps up to `depth` batches uploading
// ahead on a side stream, so a training step never waits for its input copy while the input
// pipeline keeps up; the compute stream waits for each batch's upload event only, never the host.
// Host tensors in pinned memory (e.g. from a Loader whose TensorPool is pinned) are copied
// directly, others are first staged into the slot's page-locked buffer. On the CPU the host
// batches are handed through unchanged.
//
// Lifetime rule: the tensors of the batch next() returns stay valid until the following call of
// next() (or the feeder's destruction); the feeder then reuses their memory. Their `host` (the
// host batch, for host-side metadata) stays valid at least as long. At the following call of next()
// the host batch goes back to `recycle` (on a GPU once its copy is done) unless the caller still
// holds `host` then: a host batch held longer stays valid and intact, only its buffers are not
// reused.
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

  // Uploads every defined tensor field of each batch (`inputs` must be defined; every defined
  // field must be a contiguous host tensor). `depth` >= 1 batches are uploaded ahead of the one in use.
  DeviceFeeder(Device device, Produce produce, Recycle recycle = {}, int depth = 2);
  // Waits for the side stream's queued copies, so no copy outlives the memory it writes.
  ~DeviceFeeder();
  DeviceFeeder(const DeviceFeeder&) = delete;
  DeviceFeeder& operator=(const DeviceFeeder&) = delete;

  // The next batch (`out` is cleared first): number and indices as produced, every defined tensor
  // field on the device in the host tensor's shape and dtype (ordered before everything the caller
  // then queues on its current stream), undefined fields undefined, `host` the host batch (never
  // null); false at the end.
  bool next(Batch& out);

  // Feeds a Loader: produce = loader.next, recycle = loader.recycle.
  static std::unique_ptr<DeviceFeeder> over(Loader& loader, Device device, int depth = 2);

 private:
  // Buffers of one tensor field of Batch, in for_each_tensor order.
  struct Field {
    Tensor device;   // the device copy, reused while the field's shape and dtype stay the same
    Tensor staging;  // u8 page-locked bytes for a host tensor that is not pinned; grows, never shrinks
  };
  struct Slot {
    std::shared_ptr<Batch> host;    // the host batch being or having been uploaded
    std::vector<Field> fields;      // grows to the number of tensor fields on first use
    std::unique_ptr<Event> copied;  // recorded on the side stream after the upload
    std::unique_ptr<Event> used;    // recorded on the compute stream when the batch is given up
  };
  bool upload_next();  // queues the next host batch into a free slot; false at the producer's end
  void upload_field(Field& field, const Tensor& host, const char* name, int64_t number, bool& fresh);
  void release(Slot& slot);
  void give_back(std::shared_ptr<Batch> host);  // to recycle_, unless someone else still holds it

  Device device_;
  Produce produce_;
  Recycle recycle_;
  int depth_;
  bool exhausted_ = false;
  std::unique_ptr<Stream> side_;  // CUDA only
  std::vector<Slot> slots_;
  std::deque<int> queued_;             // slots with an upload queued, in order
  int in_use_ = -1;                    // slot handed out by the last next()
  std::shared_ptr<Batch> cpu_in_use_;  // CPU: the batch handed out by the last next()
};

}  // namespace attncamp::data
