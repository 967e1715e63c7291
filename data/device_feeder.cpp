// DeviceFeeder: CPU pass-through, or a ring of depth + 1 device slots filled on a side stream.
// Ordering on the GPU: slot upload = side stream waits `used` (the compute stream is done with the
// slot's previous batch), copies every defined tensor field, records `copied`; next() makes the
// compute stream wait `copied`; giving the batch up records `used` on the compute stream.
#include "data/device_feeder.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <iostream>
#include <utility>

#include "runtime/allocator.h"
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

void DeviceFeeder::give_back(std::shared_ptr<Batch> host) {
  if (host != nullptr && host.use_count() == 1 && recycle_) recycle_(std::move(*host));
}

void DeviceFeeder::release(Slot& slot) {
  slot.copied->synchronize();  // the copy out of the host batch is done: it may be rewritten
  give_back(std::move(slot.host));
}

// Before the copies are queued: a device buffer of the field's shape and dtype (`fresh` when new)
// and, for a host tensor that is not pinned, its bytes in the field's page-locked staging buffer.
void DeviceFeeder::upload_field(Field& field, const Tensor& host, const char* name, int64_t number, bool& fresh) {
  ATTNCAMP_CHECK(host.device().is_cpu() && host.is_contiguous(), "DeviceFeeder: ", name, " of batch ", number,
                 " must be a contiguous host tensor (got a ", host.is_contiguous() ? "" : "non-contiguous ",
                 host.device().str(), " tensor)");
  if (!field.device.defined() || field.device.shape() != host.shape() || field.device.dtype() != host.dtype()) {
    field.device = Tensor::empty(host.shape(), host.dtype(), device_);
    fresh = true;
  }
  if (host.is_pinned() || host.nbytes() == 0) return;
  if (!field.staging.defined() || field.staging.nbytes() < host.nbytes()) {
    // Geometric growth: box counts change every batch, and page-locking is slow.
    const size_t bytes = std::max(host.nbytes(), field.staging.defined() ? 2 * field.staging.nbytes() : size_t{0});
    field.staging = Tensor::empty_pinned({static_cast<int64_t>(bytes)}, DType::kU8);
  }
  std::memcpy(field.staging.raw_data(), host.raw_data(), host.nbytes());
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
  auto b = std::make_shared<Batch>();
  if (!produce_(*b)) {
    exhausted_ = true;
    return false;
  }
  ATTNCAMP_CHECK(b->inputs.defined(), "DeviceFeeder: batch ", b->number, " has no inputs");
  Slot& slot = slots_[static_cast<size_t>(free_slot)];
  slot.copied->synchronize();  // the slot's previous copies are done (long since: it was consumed)
  // Device buffers belong to the compute stream (allocated outside the side-stream guard), so
  // freeing them is ordered after the compute that reads them. New memory may still be read by
  // compute work queued before, so the side stream waits for the compute stream's position.
  bool fresh = false;
  size_t k = 0;
  b->for_each_tensor([&](const char* name, const Tensor& t) {
    if (slot.fields.size() <= k) slot.fields.emplace_back();
    if (t.defined()) upload_field(slot.fields[k], t, name, b->number, fresh);
    ++k;
  });
  if (fresh) slot.used->record_current();
  {
    CudaStreamGuard guard(*side_);
    slot.used->wait_current();
    k = 0;
    b->for_each_tensor([&](const char*, const Tensor& t) {
      const Field& f = slot.fields[k++];
      if (!t.defined()) return;
      const void* src = t.is_pinned() || t.nbytes() == 0 ? t.raw_data() : f.staging.raw_data();
      device_copy_async(f.device.raw_data(), device_, src, Device::cpu(), t.nbytes());
    });
    slot.copied->record_current();
  }
  slot.host = std::move(b);
  queued_.push_back(free_slot);
  return true;
}

bool DeviceFeeder::next(Batch& out) {
  out = Batch{};  // drops the caller's hold on the previous host batch, so that it can be recycled
  if (device_.is_cpu()) {
    give_back(std::move(cpu_in_use_));
    if (!produce_(out)) return false;
    cpu_in_use_ = std::make_shared<Batch>(out);  // shares the tensors: recycled at the next call
    out.host = cpu_in_use_;
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
  out = *slot.host;  // number, indices; tensor fields replaced by their device copies
  out.host = slot.host;
  size_t f = 0;
  out.for_each_tensor([&](const char*, Tensor& t) {
    if (t.defined()) t = slot.fields[f].device;
    ++f;
  });
  in_use_ = k;
  while (static_cast<int>(queued_.size()) < depth_ && upload_next()) {
  }
  return true;
}

}  // namespace attncamp::data
