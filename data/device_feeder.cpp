// DeviceFeeder: CPU pass-through, or a ring of depth + 1 device slots filled on a side stream.
// Ordering on the GPU: slot upload = side stream waits `used` (the compute stream is done with the
// slot's previous batch), copies, records `copied`; next() makes the compute stream wait `copied`;
// giving the batch up records `used` on the compute stream.
#include "data/device_feeder.h"

#include <cstring>
#include <exception>
#include <iostream>
#include <utility>

#include "runtime/cuda_context.h"
#include "runtime/error.h"

namespace attncamp::data {

DeviceFeeder::DeviceFeeder(Device device, Produce produce, Recycle recycle, int depth)
    : device_(device), produce_(std::move(produce)), recycle_(std::move(recycle)), depth_(depth) {
  ATTNCAMP_CHECK(depth_ >= 1, "DeviceFeeder: depth must be at least 1, got ", depth_);
  ATTNCAMP_CHECK(static_cast<bool>(produce_), "DeviceFeeder: no producer");
  if (device_.is_cpu()) return;
  side_ = std::make_unique<Stream>(device_.index);
  slots_.resize(static_cast<size_t>(depth_) + 1);
  for (Slot& s : slots_) {
    s.copied = std::make_unique<Event>(device_.index);
    s.used = std::make_unique<Event>(device_.index);
  }
}

DeviceFeeder::~DeviceFeeder() {
  if (side_ == nullptr) return;
  try {
    side_->synchronize();
  } catch (const std::exception& e) {
    std::cerr << "attncamp: DeviceFeeder: waiting for uploads failed: " << e.what() << "\n";
  }
}

std::unique_ptr<DeviceFeeder> DeviceFeeder::over(Loader& loader, Device device, int depth) {
  return std::make_unique<DeviceFeeder>(
      device, [&loader](Batch& b) { return loader.next(b); }, [&loader](Batch&& b) { loader.recycle(std::move(b)); },
      depth);
}

void DeviceFeeder::release(Slot& slot) {
  slot.copied->synchronize();  // the copy out of the host batch is done: it may be rewritten
  if (recycle_) recycle_(std::move(slot.host));
  slot.host = Batch{};
}

bool DeviceFeeder::upload_next() {
  if (exhausted_) return false;
  int free_slot = -1;
  for (int k = 0; k < static_cast<int>(slots_.size()) && free_slot < 0; ++k) {
    bool busy = k == in_use_;
    for (int q : queued_) busy = busy || q == k;
    if (!busy) free_slot = k;
  }
  ATTNCAMP_CHECK(free_slot >= 0, "DeviceFeeder: no free slot (internal error)");
  Batch b;
  if (!produce_(b)) {
    exhausted_ = true;
    return false;
  }
  ATTNCAMP_CHECK(b.inputs.defined() && b.labels.defined() && b.inputs.device().is_cpu() && b.labels.device().is_cpu(),
                 "DeviceFeeder: batch ", b.number, " has no host inputs/labels");
  Slot& slot = slots_[static_cast<size_t>(free_slot)];
  slot.copied->synchronize();  // the slot's previous copies are done (long since: it was consumed)
  // Device buffers belong to the compute stream (allocated outside the side-stream guard), so
  // freeing them is ordered after the compute that reads them. New memory may still be read by
  // compute work queued before, so the side stream waits for the compute stream's position.
  bool fresh = false;
  if (!slot.inputs.defined() || slot.inputs.shape() != b.inputs.shape() || slot.inputs.dtype() != b.inputs.dtype()) {
    slot.inputs = Tensor::empty(b.inputs.shape(), b.inputs.dtype(), device_);
    fresh = true;
  }
  if (!slot.labels.defined() || slot.labels.shape() != b.labels.shape() || slot.labels.dtype() != b.labels.dtype()) {
    slot.labels = Tensor::empty(b.labels.shape(), b.labels.dtype(), device_);
    slot.pinned_labels = Tensor::empty_pinned(b.labels.shape(), b.labels.dtype());
    fresh = true;
  }
  if (fresh) slot.used->record_current();
  if (b.labels.nbytes() > 0) std::memcpy(slot.pinned_labels.raw_data(), b.labels.raw_data(), b.labels.nbytes());
  {
    CudaStreamGuard guard(*side_);
    slot.used->wait_current();
    slot.inputs.copy_from_async(b.inputs);
    slot.labels.copy_from_async(slot.pinned_labels);
    slot.copied->record_current();
  }
  slot.host = std::move(b);
  queued_.push_back(free_slot);
  return true;
}

bool DeviceFeeder::next(Batch& out) {
  if (device_.is_cpu()) {
    if (cpu_in_use_.inputs.defined() && recycle_) recycle_(std::move(cpu_in_use_));
    cpu_in_use_ = Batch{};
    if (!produce_(out)) return false;
    cpu_in_use_ = out;  // shares the tensors: recycled at the next call
    return true;
  }
  if (in_use_ >= 0) {
    Slot& prev = slots_[static_cast<size_t>(in_use_)];
    prev.used->record_current();
    release(prev);
    in_use_ = -1;
  }
  if (queued_.empty()) upload_next();
  if (queued_.empty()) return false;
  const int k = queued_.front();
  queued_.pop_front();
  Slot& slot = slots_[static_cast<size_t>(k)];
  slot.copied->wait_current();
  out = slot.host;  // indices, number and host-side fields (detection metadata)
  out.inputs = slot.inputs;
  out.labels = slot.labels;
  in_use_ = k;
  while (static_cast<int>(queued_.size()) < depth_ && upload_next()) {
  }
  return true;
}

}  // namespace attncamp::data
