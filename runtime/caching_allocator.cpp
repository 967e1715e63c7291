// CachingAllocator: size-class rounding, per-stream best-fit cache, stats and the
// empty-cache-and-retry path on out-of-memory. The raw backend is injected (RawDeviceMemory).
#include "runtime/caching_allocator.h"

#include <algorithm>
#include <limits>
#include <string>

#include "runtime/error.h"

namespace attncamp {

CachingAllocator::CachingAllocator(std::unique_ptr<RawDeviceMemory> raw) : raw_(std::move(raw)) {
  ATTNCAMP_CHECK(raw_ != nullptr, "CachingAllocator needs a raw memory backend");
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  empty_cache_locked();
  for (auto& [ptr, block] : active_) raw_->free(ptr);
  active_.clear();
}

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  ATTNCAMP_CHECK(bytes <= std::numeric_limits<size_t>::max() - kLargeRound, "allocation of ", bytes,
                 " bytes is too large to round to a size class");
  const size_t unit = bytes < kSmallAllocLimit ? kSmallRound : kLargeRound;
  return (bytes + unit - 1) / unit * unit;
}

void* CachingAllocator::allocate(size_t bytes, void* stream) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.allocations;

  auto stream_it = cached_.find(stream);
  if (stream_it != cached_.end()) {
    auto& pool = stream_it->second;
    auto it = pool.lower_bound(size);  // smallest cached block >= size (best fit)
    if (it != pool.end() && it->first <= 2 * size) {
      void* p = it->second;
      const size_t block_size = it->first;
      pool.erase(it);
      if (pool.empty()) cached_.erase(stream_it);
      active_[p] = Block{block_size, stream};
      ++stats_.cache_hits;
      stats_.in_use += block_size;
      stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
      return p;
    }
  }

  void* p = nullptr;
  try {
    p = raw_->allocate(size);
  } catch (const Error&) {
    const bool had_cache = !cached_.empty();
    empty_cache_locked();
    try {
      if (!had_cache) throw;
      p = raw_->allocate(size);
    } catch (const Error& e) {
      ATTNCAMP_THROW("out of device memory: requested ", bytes, " bytes (", size, " after rounding), reserved ",
                     stats_.reserved, " bytes, in use ", stats_.in_use,
                     " bytes after emptying the cache; backend said: ", e.what());
    }
  }
  ++stats_.raw_allocations;
  active_[p] = Block{size, stream};
  stats_.in_use += size;
  stats_.reserved += size;
  stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
  stats_.peak_reserved = std::max(stats_.peak_reserved, stats_.reserved);
  return p;
}

void CachingAllocator::free(void* p) {
  if (p == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = active_.find(p);
  ATTNCAMP_CHECK(it != active_.end(), "CachingAllocator::free of pointer ", p,
                 " that this allocator did not hand out (or that was already freed)");
  const Block block = it->second;
  active_.erase(it);
  cached_[block.stream].emplace(block.size, p);
  stats_.in_use -= block.size;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  empty_cache_locked();
}

void CachingAllocator::empty_cache_locked() noexcept {
  for (auto& [stream, pool] : cached_) {
    for (auto& [size, ptr] : pool) {
      raw_->free(ptr);
      stats_.reserved -= size;
    }
  }
  cached_.clear();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_in_use = stats_.in_use;
  stats_.peak_reserved = stats_.reserved;
}

}  // namespace attncamp
