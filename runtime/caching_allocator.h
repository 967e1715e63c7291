// Caching device allocator (PyTorch's CUDACachingAllocator in spirit, simplified): freed
// blocks stay reserved in a cache keyed by (size class, stream) and are handed out again to
// later requests on the same stream, so steady-state training does no cudaMalloc/cudaFree.
// Plain C++: the raw backend is a virtual seam (RawDeviceMemory), so tests run without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace attncamp {

// Where the caching allocator gets memory from (cudaMalloc/cudaFree for real, host memory in
// tests). Called with the allocator's mutex held, so an implementation needs no locking of its own.
class RawDeviceMemory {
 public:
  virtual ~RawDeviceMemory() = default;
  // Returns `bytes` (> 0) of device memory. Throws attncamp::Error on failure (e.g. out of memory).
  virtual void* allocate(size_t bytes) = 0;
  // Returns memory from allocate(). Never throws.
  virtual void free(void* p) noexcept = 0;
};

// Counters and byte totals, all in bytes of rounded block sizes. `in_use`: blocks handed out and
// not yet freed; `reserved`: everything held from the raw backend (in use + cached); peaks are the
// maxima since construction or the last reset_peak(). `allocations` counts allocate() calls,
// `cache_hits` those served from the cache, `raw_allocations` successful raw backend allocations.
struct AllocatorStats {
  size_t in_use = 0;
  size_t reserved = 0;
  size_t peak_in_use = 0;
  size_t peak_reserved = 0;
  int64_t allocations = 0;
  int64_t cache_hits = 0;
  int64_t raw_allocations = 0;
};

// Size classes: a request under kSmallAllocLimit (1 MiB) rounds up to a multiple of
// kSmallRound (512 B); a request of 1 MiB or more rounds up to a multiple of kLargeRound (2 MiB).
// A 0-byte request counts as 1 byte. Reuse is best fit: the smallest cached block of the same
// stream whose size is >= the rounded request and <= 2x it. Blocks are never split or merged.
//
// Stream-aware reuse: a block freed by a request made on stream S is only reused for requests on
// S, because work queued on S may still be reading it; stream order makes reuse on S safe. Using a
// block on another stream needs record_stream-style events (record on the user stream, wait before
// reuse) — not implemented yet, so callers must not hand a block to another stream without their
// own synchronisation.
//
// Out of memory: when the raw backend throws, the cache is emptied once and the allocation is
// retried; if it fails again an attncamp::Error names the requested, reserved and in-use bytes.
// Thread-safe (one mutex). Non-copyable, non-movable.
class CachingAllocator {
 public:
  static constexpr size_t kSmallAllocLimit = size_t{1} << 20;
  static constexpr size_t kSmallRound = 512;
  static constexpr size_t kLargeRound = size_t{2} << 20;

  explicit CachingAllocator(std::unique_ptr<RawDeviceMemory> raw);
  // Returns every block, cached or still in use, to the raw backend. Never throws.
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // The block size a request of `bytes` is rounded up to.
  static size_t round_size(size_t bytes);

  // Returns a block of at least `bytes` for use on `stream` (an opaque cudaStream_t, nullptr for
  // the default stream). Throws attncamp::Error when the backend is out of memory.
  void* allocate(size_t bytes, void* stream);
  // Returns `p` (from allocate()) to the cache of its stream. nullptr is a no-op; a pointer this
  // allocator did not hand out (or already freed) throws attncamp::Error.
  void free(void* p);
  // Returns all cached (free) blocks to the raw backend; blocks in use are untouched.
  void empty_cache();

  AllocatorStats stats() const;
  // Sets the peaks to the current in_use / reserved.
  void reset_peak();

 private:
  struct Block {
    size_t size = 0;
    void* stream = nullptr;
  };
  // Frees every cached block; caller holds mu_.
  void empty_cache_locked() noexcept;

  std::unique_ptr<RawDeviceMemory> raw_;
  mutable std::mutex mu_;
  std::unordered_map<void*, Block> active_;               // handed out: ptr -> block
  std::map<void*, std::multimap<size_t, void*>> cached_;  // stream -> (size -> ptr)
  AllocatorStats stats_;
};

#ifdef ATTNCAMP_WITH_CUDA
// The process-wide caching allocator of CUDA device `device` (cudaMalloc/cudaFree backend),
// created on first use so GPU-less machines never touch the driver until asked. Throws
// attncamp::Error when `device` is not a visible CUDA device. Intentionally never destroyed
// (the CUDA runtime may already be torn down at static destruction).
CachingAllocator& cuda_caching_allocator(int device);
#endif

}  // namespace attncamp
