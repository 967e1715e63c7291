// The CUDA emulator's launches, block scheduling, warp collectives and cp.async (see
// emu_runtime.h). A block's threads are fibers run warp by warp (or in lockstep) until each
// blocks; the last lane to reach a warp collective computes every lane's result and carries on;
// __syncthreads releases once every thread waits there; anything else with no thread able to
// run is a deadlock (divergent barrier or collective) and fails.
#include "emu_runtime.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>
#include <sstream>
#include <thread>

#include "cuda_emu.h"
#include "emu_fiber.h"
#include "emu_wgmma.h"
#include "runtime/error.h"

namespace attncamp::emu {
namespace {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr size_t kStackBytes = size_t{256} << 10;  // per CUDA thread (mapped lazily)
constexpr unsigned char kPoison = 0xff;            // NaN in f32, f16 and bf16

enum class State : uint8_t { kReady, kAtWarp, kAtBarrier, kDone };
enum class Op : uint8_t {
  kNone,
  kSyncWarp,
  kShflXor,
  kShflIdx,
  kLdmatrix,
  kLdmatrixTrans,
  kMmaBF16,
  kMmaF16,
  kWgmmaWait
};

const char* op_name(Op op) {
  switch (op) {
    case Op::kSyncWarp: return "__syncwarp";
    case Op::kShflXor: return "__shfl_xor_sync";
    case Op::kShflIdx: return "__shfl_sync";
    case Op::kLdmatrix: return "ldmatrix_x4";
    case Op::kLdmatrixTrans: return "ldmatrix_x4_trans";
    case Op::kMmaBF16: return "mma_16816<bf16>";
    case Op::kMmaF16: return "mma_16816<f16>";
    case Op::kWgmmaWait: return "wgmma_wait";
    default: return "nothing";
  }
}

// A cp.async in flight.
struct Copy {
  unsigned char* dst;
  const unsigned char* src;
  int bytes;
  bool fill, committed;
};

// A wgmma issued and not yet performed: the op, its group (-1 until committed), and the
// accumulators it adds to (d's values at issue; empty when an earlier pending op writes d first).
struct PendingWgmma {
  WgmmaIssue op;
  int group;
  std::vector<float> c;
};

// One lane's operands of a collective, and its results.
struct Post {
  const unsigned char* address;  // ldmatrix
  uint32_t a[4], b[2];           // mma
  float c[4];                    // mma
  uint32_t bits;                 // shuffle
  unsigned mask;                 // shuffle, __syncwarp
  int arg, width;                // shuffle
};
struct Result {
  uint32_t r[4];  // ldmatrix, shuffle (r[0])
  float d[4];     // mma
};

struct Warp {
  Op op = Op::kNone;
  int arrived = 0;
  Post post[kWarpSize];
  Result result[kWarpSize];
};

struct Block;

struct Thread {
  Context context;
  Block* block = nullptr;
  uint3 idx = {0, 0, 0};
  int linear = 0, warp = 0, lane = 0;
  State state = State::kReady;
  std::vector<Copy> copies;
  std::vector<PendingWgmma> wgmma;
  int wgmma_groups = 0;       // groups committed so far
  bool wgmma_fenced = false;  // a wgmma_fence since the start or the last wgmma_wait
};

// The block a worker (OS thread) runs: its threads' fibers, warps and shared memory.
struct Block {
  Context scheduler;
  std::vector<Thread> threads;
  std::vector<Warp> warps;
  unsigned char* smem = nullptr;
  size_t smem_bytes = 0;
  const std::function<void()>* body = nullptr;
  const LaunchOptions* options = nullptr;
  int at_barrier = 0, done = 0;
  std::exception_ptr error;
};

thread_local Thread* t_thread = nullptr;  // the running CUDA thread of this OS thread's block

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

// Hands control back to the scheduler until a barrier or collective releases this thread.
void suspend(Thread& t, State s) {
  t.state = s;
  switch_context(t.context, t.block->scheduler);
}

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

// ---- Warp collectives.

void check_full_mask(const Warp& w) {
  for (int l = 0; l < kWarpSize; ++l) {
    if (w.post[l].mask != kFullMask) {
      fail(detail::str_cat("lane ", l, " calls ", op_name(w.op), " with mask ", w.post[l].mask,
                           ": the emulator runs full-warp collectives only"));
    }
  }
}

// PTX shfl.sync: lane j's value with j from the mode, b and the clamp/segment value c of
// __shfl_*_sync's width, or the lane's own value when j is outside its segment.
void compute_shuffle(Warp& w, bool xor_mode) {
  check_full_mask(w);
  for (int l = 0; l < kWarpSize; ++l) {
    const Post& p = w.post[l];
    if (p.width < 1 || p.width > kWarpSize || (p.width & (p.width - 1)) != 0) {
      fail(detail::str_cat("lane ", l, " shuffles with width ", p.width, " (a power of two up to 32)"));
    }
  }
  for (int l = 0; l < kWarpSize; ++l) {
    const Post& p = w.post[l];
    const int seg = kWarpSize - p.width, b = p.arg & 31;
    const int min_lane = l & seg, max_lane = min_lane | (31 & ~seg);
    const int j = xor_mode ? l ^ b : min_lane | (b & ~seg);
    w.result[l].r[0] = w.post[j <= max_lane ? j : l].bits;
  }
}

// ldmatrix .x4: lanes 8 i .. 8 i + 7 give the rows of matrix i; lane 4 g + t receives in register
// i row g, columns 2t, 2t+1 of matrix i (.trans: rows 2t, 2t+1 of column g), lower one in the low half.
void compute_ldmatrix(Warp& w, bool trans) {
  uint16_t m[4][8][8];
  for (int i = 0; i < 4; ++i) {
    for (int row = 0; row < 8; ++row) std::memcpy(m[i][row], w.post[8 * i + row].address, 16);
  }
  for (int l = 0; l < kWarpSize; ++l) {
    const int g = l / 4, t = l % 4;
    for (int i = 0; i < 4; ++i) {
      const uint16_t lo = trans ? m[i][2 * t][g] : m[i][g][2 * t];
      const uint16_t hi = trans ? m[i][2 * t + 1][g] : m[i][g][2 * t + 1];
      w.result[l].r[i] = uint32_t{lo} | uint32_t{hi} << 16;
    }
  }
}

// mma.m16n8k16 with 16-bit A, B and f32 C, D (PTX ISA fragment layouts, lane = 4 g + t):
// a0 = A[g][2t, 2t+1], a1 = A[g+8][2t, 2t+1], a2 = A[g][2t+8, 2t+9], a3 = A[g+8][2t+8, 2t+9];
// b0 = B[2t, 2t+1][g], b1 = B[2t+8, 2t+9][g]; c0, c1 = C[g][2t, 2t+1], c2, c3 = C[g+8][2t, 2t+1];
// the lower column (A) or k (B) in the low half. Products are exact in f32 for 16-bit inputs;
// they are summed in f64 and rounded to f32 once with C (the hardware truncates its wide sum
// instead, so the last bit may differ).
void compute_mma(Warp& w, MmaType type) {
  float a[16][16], b[16][8];
  auto split = [type](uint32_t reg, float& lo, float& hi) {
    lo = wgmma_detail::to_f32(type, static_cast<uint16_t>(reg & 0xffffu));
    hi = wgmma_detail::to_f32(type, static_cast<uint16_t>(reg >> 16));
  };
  for (int l = 0; l < kWarpSize; ++l) {
    const int g = l / 4, t = l % 4;
    const Post& p = w.post[l];
    split(p.a[0], a[g][2 * t], a[g][2 * t + 1]);
    split(p.a[1], a[g + 8][2 * t], a[g + 8][2 * t + 1]);
    split(p.a[2], a[g][2 * t + 8], a[g][2 * t + 9]);
    split(p.a[3], a[g + 8][2 * t + 8], a[g + 8][2 * t + 9]);
    split(p.b[0], b[2 * t][g], b[2 * t + 1][g]);
    split(p.b[1], b[2 * t + 8][g], b[2 * t + 9][g]);
  }
  double ab[16][8] = {};
  for (int row = 0; row < 16; ++row) {
    for (int k = 0; k < 16; ++k) {
      const double x = a[row][k];
      for (int col = 0; col < 8; ++col) ab[row][col] += x * b[k][col];
    }
  }
  for (int l = 0; l < kWarpSize; ++l) {
    const int g = l / 4, t = l % 4;
    for (int e = 0; e < 4; ++e) {
      w.result[l].d[e] = static_cast<float>(w.post[l].c[e] + ab[g + 8 * (e / 2)][2 * t + e % 2]);
    }
  }
}

// wgmma_wait's collective: the first post.arg pending ops of every lane of warp `warp`, performed
// in issue order (they must be the same ops across the warp), then dropped.
void perform_wgmma(Block& blk, int warp) {
  Warp& w = blk.warps[static_cast<size_t>(warp)];
  Thread* lanes = &blk.threads[static_cast<size_t>(warp) * kWarpSize];
  const int count = w.post[0].arg;
  for (int l = 0; l < kWarpSize; ++l) {
    if (w.post[l].arg != count) {
      fail(detail::str_cat("wgmma_wait: lane ", l, " has ", w.post[l].arg, " wgmma to complete, lane 0 has ", count,
                           " (divergent warpgroup)"));
    }
  }
  for (int i = 0; i < count; ++i) {
    wgmma_detail::Lane in[kWarpSize];
    const WgmmaIssue& op0 = lanes[0].wgmma[static_cast<size_t>(i)].op;
    for (int l = 0; l < kWarpSize; ++l) {
      const PendingWgmma& pw = lanes[l].wgmma[static_cast<size_t>(i)];
      const WgmmaIssue& op = pw.op;
      if (op.type != op0.type || op.n != op0.n || op.a_in_registers != op0.a_in_registers ||
          (!op.a_in_registers && (op.desc_a != op0.desc_a || op.a_mn_major != op0.a_mn_major)) ||
          op.desc_b != op0.desc_b || op.b_mn_major != op0.b_mn_major || op.accumulate != op0.accumulate ||
          pw.group != lanes[0].wgmma[i].group) {
        fail(detail::str_cat("wgmma ", i, " of the wait: lane ", l,
                             " issued other operands (type, shape, descriptors, group) than lane 0"));
      }
      in[l] = {&op, pw.c.empty() ? nullptr : pw.c.data()};
    }
    wgmma_detail::perform(in, warp % 4, blk.smem, blk.smem_bytes);
  }
  for (int l = 0; l < kWarpSize; ++l) lanes[l].wgmma.erase(lanes[l].wgmma.begin(), lanes[l].wgmma.begin() + count);
}

// Posts this lane's operands of `op` and returns its result once all 32 lanes have posted.
const Result& collective(Op op, const Post& post) {
  Thread& t = current();
  Block& blk = *t.block;
  Warp& w = blk.warps[t.warp];
  if (w.arrived == 0) {
    w.op = op;
  } else if (w.op != op) {
    fail(detail::str_cat("calls ", op_name(op), " while ", w.arrived, " lanes of its warp wait in ", op_name(w.op),
                         " (divergent warp)"));
  }
  w.post[t.lane] = post;
  if (++w.arrived < kWarpSize) {
    suspend(t, State::kAtWarp);
    return w.result[t.lane];
  }
  w.arrived = 0;
  switch (op) {
    case Op::kSyncWarp: check_full_mask(w); break;
    case Op::kShflXor: compute_shuffle(w, true); break;
    case Op::kShflIdx: compute_shuffle(w, false); break;
    case Op::kLdmatrix: compute_ldmatrix(w, false); break;
    case Op::kLdmatrixTrans: compute_ldmatrix(w, true); break;
    case Op::kMmaBF16: compute_mma(w, MmaType::kBF16); break;
    case Op::kMmaF16: compute_mma(w, MmaType::kF16); break;
    case Op::kWgmmaWait: perform_wgmma(blk, t.warp); break;
    default: break;
  }
  for (int l = 0; l < kWarpSize; ++l) {
    if (l != t.lane) blk.threads[t.warp * kWarpSize + l].state = State::kReady;
  }
  return w.result[t.lane];
}

// `bytes` at p lie inside the block's shared memory.
bool in_shared(const Block& blk, const unsigned char* p, size_t bytes) {
  return p >= blk.smem && p + bytes <= blk.smem + blk.smem_bytes;
}

// ---- Scheduling.

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
    for (Warp& w : blk_.warps) w.arrived = 0;
    for (size_t i = 0; i < blk_.threads.size(); ++i) {
      Thread& t = blk_.threads[i];
      t.state = State::kReady;
      t.copies.clear();
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

void warp_barrier(unsigned mask) {
  Post p{};
  p.mask = mask;
  collective(Op::kSyncWarp, p);
}

uint32_t shuffle(bool xor_mode, unsigned mask, uint32_t bits, int arg, int width) {
  Post p{};
  p.bits = bits;
  p.mask = mask;
  p.arg = arg;
  p.width = width;
  return collective(xor_mode ? Op::kShflXor : Op::kShflIdx, p).r[0];
}

void cp_async(void* dst, const void* src, int bytes, bool fill) {
  Thread& t = current();
  const Block& blk = *t.block;
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  const size_t n = static_cast<size_t>(bytes);
  if (bytes != 4 && bytes != 8 && bytes != 16) fail(detail::str_cat("cp.async of ", bytes, " bytes (4, 8 or 16)"));
  if (!in_shared(blk, d, n)) {
    fail(detail::str_cat("cp.async of ", bytes, " bytes to ", dst, ", outside the block's ", blk.smem_bytes,
                         " bytes of shared memory at ", static_cast<const void*>(blk.smem)));
  }
  if (reinterpret_cast<uintptr_t>(d) % n != 0 || reinterpret_cast<uintptr_t>(s) % n != 0) {
    fail(detail::str_cat("cp.async of ", bytes, " bytes from ", src, " to ", dst, " (offset ", d - blk.smem,
                         "): both addresses must be ", bytes, "-byte aligned"));
  }
  if (s == nullptr) fail("cp.async from a null address");
  if (!blk.options->global.empty()) {
    const bool inside = std::any_of(blk.options->global.begin(), blk.options->global.end(), [&](const Buffer& g) {
      const auto* lo = static_cast<const unsigned char*>(g.data);
      return s >= lo && s + (fill ? n : 1) <= lo + g.bytes;
    });
    if (!inside) fail(detail::str_cat("cp.async source ", src, " (", bytes, " bytes) is outside every global buffer"));
  }
  std::memset(d, kPoison, n);  // undefined until the copy is waited for
  t.copies.push_back({d, s, bytes, fill, false});
}

void cp_async_commit() {
  for (Copy& c : current().copies) c.committed = true;
}

void cp_async_wait_all() {
  std::vector<Copy>& copies = current().copies;
  for (const Copy& c : copies) {
    if (!c.committed) continue;
    if (c.fill) {
      std::memcpy(c.dst, c.src, static_cast<size_t>(c.bytes));
    } else {
      std::memset(c.dst, 0, static_cast<size_t>(c.bytes));
    }
  }
  copies.erase(std::remove_if(copies.begin(), copies.end(), [](const Copy& c) { return c.committed; }), copies.end());
}

void ldmatrix_x4(uint32_t (&r)[4], const void* row_address, bool trans) {
  const Thread& t = current();
  const auto* a = static_cast<const unsigned char*>(row_address);
  if (!in_shared(*t.block, a, 16)) {
    fail(detail::str_cat("ldmatrix row address ", row_address, " is outside the block's ", t.block->smem_bytes,
                         " bytes of shared memory at ", static_cast<const void*>(t.block->smem)));
  }
  if (reinterpret_cast<uintptr_t>(a) % 16 != 0) {
    fail(detail::str_cat("ldmatrix row address at shared offset ", a - t.block->smem, " is not 16-byte aligned"));
  }
  Post p{};
  p.address = a;
  const Result& res = collective(trans ? Op::kLdmatrixTrans : Op::kLdmatrix, p);
  for (int i = 0; i < 4; ++i) r[i] = res.r[i];
}

void mma_16816(MmaType type, float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  Post p{};
  for (int i = 0; i < 4; ++i) {
    p.a[i] = a[i];
    p.c[i] = d[i];
  }
  p.b[0] = b0;
  p.b[1] = b1;
  const Result& res = collective(type == MmaType::kBF16 ? Op::kMmaBF16 : Op::kMmaF16, p);
  for (int i = 0; i < 4; ++i) d[i] = res.d[i];
}

void wgmma(const WgmmaIssue& op) {
  Thread& t = current();
  if (t.block->threads.size() % (4 * kWarpSize) != 0) {
    fail(detail::str_cat("wgmma in a block of ", t.block->threads.size(), " threads (whole warpgroups of 128 needed)"));
  }
  if (!t.wgmma_fenced) fail("wgmma issued without a wgmma_fence since the start or the last wgmma_wait");
  if (op.n < 8 || op.n > 256 || op.n % 8 != 0) fail(detail::str_cat("wgmma with N = ", op.n));
  PendingWgmma pw{op, -1, {}};
  const size_t regs = static_cast<size_t>(op.n / 2);
  const bool chained =
      std::any_of(t.wgmma.begin(), t.wgmma.end(), [&](const PendingWgmma& p) { return p.op.d == op.d; });
  if (!chained) {
    pw.c.assign(op.d, op.d + regs);
    std::fill(op.d, op.d + regs, NAN);  // undefined until the wait
  }
  t.wgmma.push_back(std::move(pw));
}

void wgmma_fence() { current().wgmma_fenced = true; }

void wgmma_commit() {
  Thread& t = current();
  for (PendingWgmma& p : t.wgmma) {
    if (p.group < 0) p.group = t.wgmma_groups;
  }
  ++t.wgmma_groups;
}

void wgmma_wait(int pending) {
  Thread& t = current();
  if (std::any_of(t.wgmma.begin(), t.wgmma.end(), [](const PendingWgmma& p) { return p.group < 0; })) {
    fail("wgmma_wait with wgmma issued after the last wgmma_commit");
  }
  const int limit = t.wgmma_groups - pending;  // groups below it complete
  Post p{};
  p.arg = static_cast<int>(
      std::count_if(t.wgmma.begin(), t.wgmma.end(), [&](const PendingWgmma& w) { return w.group < limit; }));
  collective(Op::kWgmmaWait, p);
  t.wgmma_fenced = false;
}

}  // namespace attncamp::emu
