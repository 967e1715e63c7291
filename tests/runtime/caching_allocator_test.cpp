// CachingAllocator logic against a fake RawDeviceMemory that hands out host memory, counts calls
// and fails beyond a byte limit: size classes, stream-aware best-fit reuse, exact stats, the
// out-of-memory retry, errors, teardown and threads. One case uses the real CUDA backend on a GPU.
#include "runtime/caching_allocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "runtime/device.h"
#include "runtime/error.h"

namespace attncamp {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

// What the fake backend saw; shared so tests can inspect it after the allocator is gone.
struct FakeState {
  std::mutex mu;
  size_t limit = SIZE_MAX;  // allocate() fails when live bytes would exceed this
  size_t live_bytes = 0;
  int64_t allocate_calls = 0;
  int64_t failed_allocates = 0;
  int64_t free_calls = 0;
  std::vector<size_t> requested;  // sizes passed to allocate(), in order
  std::unordered_map<void*, size_t> live;
};

class FakeRawMemory : public RawDeviceMemory {
 public:
  explicit FakeRawMemory(std::shared_ptr<FakeState> s) : s_(std::move(s)) {}
  void* allocate(size_t bytes) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    ++s_->allocate_calls;
    s_->requested.push_back(bytes);
    if (s_->live_bytes + bytes > s_->limit) {
      ++s_->failed_allocates;
      ATTNCAMP_THROW("fake out of memory allocating ", bytes, " bytes");
    }
    void* p = std::malloc(bytes);
    s_->live[p] = bytes;
    s_->live_bytes += bytes;
    return p;
  }
  void free(void* p) noexcept override {
    std::lock_guard<std::mutex> lock(s_->mu);
    ++s_->free_calls;
    auto it = s_->live.find(p);
    if (it == s_->live.end()) return;  // counted; the test sees live/free_calls mismatch
    s_->live_bytes -= it->second;
    s_->live.erase(it);
    std::free(p);
  }

 private:
  std::shared_ptr<FakeState> s_;
};

struct Fixture {
  std::shared_ptr<FakeState> state = std::make_shared<FakeState>();
  std::unique_ptr<CachingAllocator> alloc;
  explicit Fixture(size_t limit = SIZE_MAX) {
    state->limit = limit;
    alloc = std::make_unique<CachingAllocator>(std::make_unique<FakeRawMemory>(state));
  }
};

void* stream(int i) { return reinterpret_cast<void*>(static_cast<uintptr_t>(i)); }

TEST(CachingAllocator, RoundsToSizeClasses) {
  EXPECT_EQ(CachingAllocator::round_size(0), 512u);
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(512), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(kMiB - 1), kMiB);
  EXPECT_EQ(CachingAllocator::round_size(kMiB), 2 * kMiB);
  EXPECT_EQ(CachingAllocator::round_size(kMiB + 1), 2 * kMiB);
  EXPECT_EQ(CachingAllocator::round_size(2 * kMiB), 2 * kMiB);
  EXPECT_EQ(CachingAllocator::round_size(2 * kMiB + 1), 4 * kMiB);
  Fixture f;
  f.alloc->free(f.alloc->allocate(1, nullptr));
  f.alloc->free(f.alloc->allocate(kMiB + 1, nullptr));
  EXPECT_EQ(f.state->requested, (std::vector<size_t>{512, 2 * kMiB}));
}

TEST(CachingAllocator, ReusesFreedBlockOfSameSizeClass) {
  Fixture f;
  void* a = f.alloc->allocate(1000, stream(1));
  f.alloc->free(a);
  void* b = f.alloc->allocate(700, stream(1));  // 700 and 1000 both round to 1024
  EXPECT_EQ(b, a);
  EXPECT_EQ(f.state->allocate_calls, 1);
  EXPECT_EQ(f.alloc->stats().cache_hits, 1);
  f.alloc->free(b);
}

TEST(CachingAllocator, NoReuseAcrossStreams) {
  Fixture f;
  void* a = f.alloc->allocate(4096, stream(1));
  f.alloc->free(a);
  void* b = f.alloc->allocate(4096, stream(2));
  EXPECT_NE(b, a);
  EXPECT_EQ(f.state->allocate_calls, 2);
  void* c = f.alloc->allocate(4096, stream(1));
  EXPECT_EQ(c, a);
  const AllocatorStats s = f.alloc->stats();
  EXPECT_EQ(s.cache_hits, 1);
  EXPECT_EQ(s.raw_allocations, 2);
  f.alloc->free(b);
  f.alloc->free(c);
}

TEST(CachingAllocator, BestFitWithinTwiceTheRequest) {
  Fixture f;
  void* b4k = f.alloc->allocate(4096, nullptr);
  void* b2k = f.alloc->allocate(2048, nullptr);
  void* b8k = f.alloc->allocate(8192, nullptr);
  f.alloc->free(b4k);
  f.alloc->free(b2k);
  f.alloc->free(b8k);
  EXPECT_EQ(f.alloc->allocate(1500, nullptr), b2k);  // 1536: 2048 is the smallest fit
  EXPECT_EQ(f.alloc->allocate(3000, nullptr), b4k);  // 3072: 4096 (2048 is taken)
  f.alloc->free(b2k);
  f.alloc->free(b4k);
  EXPECT_EQ(f.alloc->allocate(4000, nullptr), b4k);  // 4096 fits exactly; 8192 would also do
  EXPECT_EQ(f.state->allocate_calls, 3);
  void* small = f.alloc->allocate(512, nullptr);  // 2048 and 8192 are cached but > 2x 512
  EXPECT_NE(small, b2k);
  EXPECT_NE(small, b8k);
  EXPECT_EQ(f.state->allocate_calls, 4);
  EXPECT_EQ(f.state->requested.back(), 512u);
  EXPECT_EQ(f.alloc->allocate(5000, nullptr), b8k);  // 5120: only 8192 fits (<= 10240)
  EXPECT_EQ(f.alloc->stats().cache_hits, 4);
}

TEST(CachingAllocator, StatsAreExactAfterScriptedSequence) {
  Fixture f;
  void* a = f.alloc->allocate(1000, nullptr);      // 1024, raw
  void* b = f.alloc->allocate(3 * kMiB, nullptr);  // 4 MiB, raw
  f.alloc->free(a);
  void* c = f.alloc->allocate(600, nullptr);  // 1024, cache hit
  EXPECT_EQ(c, a);
  f.alloc->free(b);
  f.alloc->free(c);
  AllocatorStats s = f.alloc->stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.reserved, 4 * kMiB + 1024);
  EXPECT_EQ(s.peak_in_use, 4 * kMiB + 1024);
  EXPECT_EQ(s.peak_reserved, 4 * kMiB + 1024);
  EXPECT_EQ(s.allocations, 3);
  EXPECT_EQ(s.cache_hits, 1);
  EXPECT_EQ(s.raw_allocations, 2);

  f.alloc->reset_peak();
  s = f.alloc->stats();
  EXPECT_EQ(s.peak_in_use, 0u);
  EXPECT_EQ(s.peak_reserved, 4 * kMiB + 1024);
  void* d = f.alloc->allocate(512, nullptr);  // 512: the cached 1024 block is exactly 2x, so reused
  s = f.alloc->stats();
  EXPECT_EQ(d, a);
  EXPECT_EQ(s.in_use, 1024u);
  EXPECT_EQ(s.peak_in_use, 1024u);
  f.alloc->free(d);

  f.alloc->empty_cache();
  s = f.alloc->stats();
  EXPECT_EQ(s.reserved, 0u);
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.peak_reserved, 4 * kMiB + 1024);
  EXPECT_EQ(f.state->free_calls, 2);
  EXPECT_EQ(f.state->live_bytes, 0u);
}

TEST(CachingAllocator, OutOfMemoryEmptiesCacheAndRetries) {
  Fixture f(/*limit=*/4096);
  f.alloc->free(f.alloc->allocate(2048, stream(1)));  // cached on stream 1
  void* p = f.alloc->allocate(4096, stream(2));       // fails once, cache emptied, retried
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(f.state->failed_allocates, 1);
  EXPECT_EQ(f.state->free_calls, 1);
  const AllocatorStats s = f.alloc->stats();
  EXPECT_EQ(s.reserved, 4096u);
  EXPECT_EQ(s.in_use, 4096u);
  EXPECT_EQ(s.raw_allocations, 2);
  f.alloc->free(p);
}

TEST(CachingAllocator, OutOfMemoryErrorNamesTheNumbers) {
  Fixture f(/*limit=*/4096);
  void* held = f.alloc->allocate(2048, nullptr);
  f.alloc->free(f.alloc->allocate(1024, nullptr));  // cached, will be emptied by the retry
  try {
    f.alloc->allocate(4000, nullptr);
    FAIL() << "allocation beyond the limit succeeded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("requested 4000 bytes (4096 after rounding)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("reserved 2048 bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("in use 2048 bytes"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_EQ(f.state->failed_allocates, 2);  // first try and the retry after emptying the cache
  EXPECT_EQ(f.alloc->stats().reserved, 2048u);
  f.alloc->free(held);
  // With nothing cached there is no retry.
  Fixture g(/*limit=*/1024);
  EXPECT_THROW(g.alloc->allocate(2048, nullptr), Error);
  EXPECT_EQ(g.state->failed_allocates, 1);
}

TEST(CachingAllocator, FreeingUnknownPointerThrows) {
  Fixture f;
  int local = 0;
  EXPECT_THROW(f.alloc->free(&local), Error);
  void* p = f.alloc->allocate(64, nullptr);
  f.alloc->free(p);
  EXPECT_THROW(f.alloc->free(p), Error);  // double free
  EXPECT_NO_THROW(f.alloc->free(nullptr));
}

TEST(CachingAllocator, DestructorReturnsEverything) {
  Fixture f;
  void* a = f.alloc->allocate(100, stream(1));
  f.alloc->allocate(3 * kMiB, stream(2));  // still in use at destruction
  f.alloc->allocate(5000, nullptr);        // still in use at destruction
  f.alloc->free(a);                        // cached at destruction
  f.alloc.reset();
  EXPECT_EQ(f.state->allocate_calls, 3);
  EXPECT_EQ(f.state->free_calls, 3);
  EXPECT_TRUE(f.state->live.empty());
  EXPECT_EQ(f.state->live_bytes, 0u);
}

TEST(CachingAllocator, ThreadsKeepStatsConsistent) {
  Fixture f;
  constexpr int kThreads = 8;
  constexpr int kIters = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&f, t] {
      std::mt19937 rng(1234 + t);
      std::uniform_int_distribution<size_t> size(1, 3 * kMiB);
      std::vector<unsigned char*> held;
      for (int i = 0; i < kIters; ++i) {
        auto* p = static_cast<unsigned char*>(f.alloc->allocate(size(rng), stream(t % 2)));
        p[0] = static_cast<unsigned char>(t);  // a block handed to two threads would be overwritten
        held.push_back(p);
        if (held.size() > 4 || rng() % 2 == 0) {
          EXPECT_EQ(held.front()[0], static_cast<unsigned char>(t));
          f.alloc->free(held.front());
          held.erase(held.begin());
        }
      }
      for (unsigned char* p : held) {
        EXPECT_EQ(p[0], static_cast<unsigned char>(t));
        f.alloc->free(p);
      }
    });
  }
  for (auto& th : threads) th.join();
  const AllocatorStats s = f.alloc->stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.allocations, int64_t{kThreads} * kIters);
  EXPECT_EQ(s.cache_hits + s.raw_allocations, s.allocations);
  EXPECT_GT(s.cache_hits, 0);
  EXPECT_EQ(s.reserved, f.state->live_bytes);
  EXPECT_EQ(s.raw_allocations, f.state->allocate_calls);
  EXPECT_LE(s.peak_in_use, s.peak_reserved);
  f.alloc->empty_cache();
  EXPECT_EQ(f.state->live_bytes, 0u);
}

TEST(CachingAllocator, CudaBackendReusesBlocksOnGpu) {
  if (!cuda_compiled()) GTEST_SKIP() << "this build has no CUDA support (ATTNCAMP_CUDA=OFF or no nvcc)";
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
#ifdef ATTNCAMP_WITH_CUDA
  CachingAllocator& a = cuda_caching_allocator(0);
  EXPECT_EQ(&cuda_caching_allocator(0), &a);
  const AllocatorStats before = a.stats();
  void* p = a.allocate(5 * kMiB + 123, nullptr);  // 6 MiB block
  ASSERT_NE(p, nullptr);
  a.free(p);
  void* q = a.allocate(5 * kMiB, nullptr);
  EXPECT_EQ(q, p);
  const AllocatorStats after = a.stats();
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(after.allocations, before.allocations + 2);
  a.free(q);
  EXPECT_THROW(cuda_caching_allocator(cuda_device_count()), Error);
#endif
}

TEST(CachingAllocator, CudaAccessorFailsClearlyWithoutGpu) {
  if (!cuda_compiled()) GTEST_SKIP() << "this build has no CUDA support (ATTNCAMP_CUDA=OFF or no nvcc)";
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present; this test covers GPU-less machines";
#ifdef ATTNCAMP_WITH_CUDA
  EXPECT_THROW(cuda_caching_allocator(0), Error);
#endif
}

}  // namespace
}  // namespace attncamp
