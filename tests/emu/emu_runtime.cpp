// The CUDA emulator's launches and block scheduling (see emu_runtime.h). A block's threads are
// fibers run warp by warp (or in lockstep) until each blocks; __syncthreads releases once every
// thread waits there; anything else with no thread able to run is a deadlock (divergent barrier
// or collective) and fails. Warp collectives: emu_collectives.cpp; cp.async and wgmma: emu_async.cpp.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <sstream>
#include <thread>

#include "cuda_emu.h"
#include "emu_internal.h"
#include "runtime/error.h"

namespace attncamp::emu {

using namespace internal;  // the emulator's shared state (emu_internal.h)

namespace internal {

constexpr size_t kStackBytes = size_t{256} << 10;  // per CUDA thread (mapped lazily)

thread_local Thread* t_thread = nullptr;

std::string where() {
  std::ostringstream os;
  os << "emu: block (" << blockIdx.x << "," << blockIdx.y << "," << blockIdx.z << ")";
  if (t_thread != nullptr) {
    os << " thread " << t_thread->linear << " (warp " << t_thread->warp << ", lane " << t_thread->lane << ")";
  }
  return os.str();
}

Thread& current() {
  if (t_thread == nullptr) ATTNCAMP_THROW("emu: a device function was called outside emu::launch");
  return *t_thread;
}

void suspend(Thread& t, State s) {
  t.state = s;
  switch_context(t.context, t.block->scheduler);
}

}  // namespace internal

namespace {

void check_no_copies_left(const Thread& t) {
  if (t.copies.empty()) return;
  const auto uncommitted = std::count_if(t.copies.begin(), t.copies.end(), [](const Copy& c) { return !c.committed; });
  fail(detail::str_cat("exits with ", t.copies.size(), " cp.async copies never waited for (", uncommitted,
                       " not committed): a missing cp_async_commit / cp_async_wait_all"));
}

void thread_main(void* arg) {
  Thread& t = *static_cast<Thread*>(arg);
  try {
    (*t.block->body)();
    check_no_copies_left(t);
    if (!t.wgmma.empty()) fail(detail::str_cat("exits with ", t.wgmma.size(), " wgmma never waited for"));
  } catch (...) {
    t.block->error = std::current_exception();
  }
  t.state = State::kDone;
  ++t.block->done;
  switch_context(t.context, t.block->scheduler);
  __builtin_trap();  // a finished thread is never resumed
}

// Says which threads wait where when no thread can run.
[[noreturn]] void fail_stuck(const Block& blk) {
  std::ostringstream os;
  os << "deadlock: " << blk.at_barrier << " threads wait at __syncthreads, " << blk.done << " have exited";
  for (size_t wi = 0; wi < blk.warps.size(); ++wi) {
    if (blk.warps[wi].arrived > 0) {
      os << "; warp " << wi << ": " << blk.warps[wi].arrived << " lanes wait in " << op_name(blk.warps[wi].op);
    }
  }
  os << " (a __syncthreads or warp collective not reached by all threads)";
  fail(os.str());
}

// A worker's state: fiber stacks and shared memory (with an inaccessible page after it) reused
// by every block it runs.
class Worker {
 public:
  Worker(dim3 block, size_t smem_bytes, const std::function<void()>& body, const LaunchOptions& options)
      : stacks_(static_cast<size_t>(block.x) * block.y * block.z, kStackBytes) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t rounded = (smem_bytes + 15) / 16 * 16;
    map_bytes_ = (rounded + page - 1) / page * page + page;
    void* p = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ATTNCAMP_CHECK(p != MAP_FAILED, "emu: cannot map ", map_bytes_, " bytes of shared memory: ", std::strerror(errno));
    map_ = static_cast<unsigned char*>(p);
    ATTNCAMP_CHECK(mprotect(map_ + map_bytes_ - page, page, PROT_NONE) == 0, "emu: mprotect failed");
    blk_.smem = map_ + map_bytes_ - page - rounded;
    blk_.smem_bytes = smem_bytes;
    blk_.body = &body;
    blk_.options = &options;
    blk_.threads.resize(stacks_.count());
    blk_.warps.resize(stacks_.count() / kWarpSize);
    for (size_t i = 0; i < stacks_.count(); ++i) {
      Thread& t = blk_.threads[i];
      t.block = &blk_;
      t.linear = static_cast<int>(i);
      t.warp = t.linear / kWarpSize;
      t.lane = t.linear % kWarpSize;
      t.idx = {static_cast<unsigned>(i % block.x), static_cast<unsigned>(i / block.x % block.y),
               static_cast<unsigned>(i / (block.x * block.y))};
    }
  }
  ~Worker() { munmap(map_, map_bytes_); }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void run(uint3 idx) {
    blockIdx = idx;
    blk_.at_barrier = blk_.done = 0;
    blk_.error = nullptr;
    std::memset(blk_.smem, kPoison, blk_.smem_bytes);
    blk_.unfenced_by.assign(blk_.smem_bytes + 1, 0);  // + 1: a 2-byte element's second byte
    for (Warp& w : blk_.warps) w.arrived = 0;
    for (size_t i = 0; i < blk_.threads.size(); ++i) {
      Thread& t = blk_.threads[i];
      t.state = State::kReady;
      t.copies.clear();
      t.unfenced.clear();
      t.wgmma.clear();
      t.wgmma_groups = 0;
      t.wgmma_fenced = false;
      make_context(t.context, stacks_.stack(i), stacks_.bytes(), thread_main, &t);
    }
    const int n = static_cast<int>(blk_.threads.size()), warps = n / kWarpSize;
    const bool reverse = blk_.options->reverse, greedy = blk_.options->schedule == Schedule::kWarpByWarp;
    for (;;) {
      bool ran = false;
      for (int wk = 0; wk < warps; ++wk) {
        const int w = reverse ? warps - 1 - wk : wk;
        for (bool again = true; again;) {
          again = false;
          for (int lk = 0; lk < kWarpSize; ++lk) {
            Thread& t = blk_.threads[w * kWarpSize + (reverse ? kWarpSize - 1 - lk : lk)];
            if (t.state != State::kReady) continue;
            ran = true;
            again = greedy;
            t_thread = &t;
            threadIdx = t.idx;
            switch_context(blk_.scheduler, t.context);
            t_thread = nullptr;
            if (blk_.error) std::rethrow_exception(blk_.error);
          }
        }
      }
      if (ran) continue;
      if (blk_.done == n) break;
      if (blk_.at_barrier != n) fail_stuck(blk_);
      blk_.at_barrier = 0;
      for (Thread& t : blk_.threads) t.state = State::kReady;
    }
  }

 private:
  StackPool stacks_;
  Block blk_;
  unsigned char* map_ = nullptr;
  size_t map_bytes_ = 0;
};

void check_launch(dim3 grid, dim3 block, size_t smem_bytes) {
  ATTNCAMP_CHECK(
      grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.y <= 65535 && grid.z <= 65535 && grid.x <= 0x7fffffffu,
      "emu: invalid grid (", grid.x, ", ", grid.y, ", ", grid.z, ")");
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  ATTNCAMP_CHECK(threads >= 1 && threads <= 1024 && block.z <= 64, "emu: invalid block (", block.x, ", ", block.y, ", ",
                 block.z, ")");
  ATTNCAMP_CHECK(threads % kWarpSize == 0, "emu: block of ", threads,
                 " threads; the emulator runs whole warps only (a multiple of 32)");
  ATTNCAMP_CHECK(smem_bytes <= kMaxSharedBytes, "emu: ", smem_bytes, " bytes of dynamic shared memory, more than the ",
                 kMaxSharedBytes, " an H100 block may have");
}

}  // namespace

void launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body, const LaunchOptions& options) {
  check_launch(grid, block, smem_bytes);
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const uint64_t want = options.workers > 0 ? static_cast<uint64_t>(options.workers) : std::min(hw, 4u);
  const int workers = static_cast<int>(std::min(blocks, want));
  std::atomic<uint64_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::exception_ptr first;
  auto work = [&] {
    try {
      Worker w(block, smem_bytes, body, options);
      gridDim = grid;
      blockDim = block;
      while (!stop.load()) {
        const uint64_t i = next.fetch_add(1);
        if (i >= blocks) break;
        w.run({static_cast<unsigned>(i % grid.x), static_cast<unsigned>(i / grid.x % grid.y),
               static_cast<unsigned>(i / (uint64_t{grid.x} * grid.y))});
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!first) first = std::current_exception();
      stop = true;
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < workers; ++i) pool.emplace_back(work);
  work();
  for (std::thread& th : pool) th.join();
  if (first) std::rethrow_exception(first);
}

void fail(const std::string& what) { throw Error(where() + ": " + what); }

unsigned char* shared_memory() { return current().block->smem; }

void block_barrier() {
  Thread& t = current();
  ++t.block->at_barrier;
  suspend(t, State::kAtBarrier);
}

}  // namespace attncamp::emu
