// Internals of the CUDA emulator shared by its translation units: a block's threads (fibers),
// warps and the state of their collectives, cp.async copies and wgmma in flight. emu_runtime.cpp
// schedules blocks, emu_collectives.cpp computes warp collectives, emu_async.cpp tracks cp.async
// and wgmma. Not for kernels or tests: they use emu_runtime.h and cuda_emu.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "emu_fiber.h"
#include "emu_runtime.h"

namespace attncamp::emu::internal {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr unsigned char kPoison = 0xff;  // NaN in f32, f16 and bf16

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

// The name a failure message gives `op`.
const char* op_name(Op op);

// A cp.async in flight.
struct Copy {
  unsigned char* dst;
  const unsigned char* src;
  int bytes;
  bool fill, committed;
};

// A wgmma issued and not yet performed: the op, its group (-1 until committed), and the
// accumulators it adds to (d's values at issue; empty when an earlier pending op writes d first).
// The hardware may read the shared-memory operands at any time between issue and wait, so the
// wait checks that they still hold what they held at issue.
struct PendingWgmma {
  WgmmaIssue op;
  int group;
  std::vector<float> c;
  std::vector<uint16_t> operands;  // lane 0: the shared-memory operands at issue (operand_bits)
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
  std::vector<Copy> unfenced;  // cp.async landed since this thread's last fence_proxy_async
  int wgmma_groups = 0;        // groups committed so far
  bool wgmma_fenced = false;   // a wgmma_fence since the start or the last wgmma_wait
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
  // Per shared-memory byte: 1 + the thread whose cp.async wrote it and that has not run
  // fence_proxy_async since (the async proxy, wgmma, would not see the write), else 0.
  std::vector<int> unfenced_by;
};

// The running CUDA thread of this OS thread's block (nullptr outside one).
extern thread_local Thread* t_thread;

// "emu: block (x,y,z) thread n (warp w, lane l)" of the running thread.
std::string where();
// The running thread; throws outside emu::launch.
Thread& current();
// Hands control back to the scheduler until a barrier or collective releases this thread.
void suspend(Thread& t, State s);
// Posts this lane's operands of `op` and returns its result once all 32 lanes have posted
// (emu_collectives.cpp).
const Result& collective(Op op, const Post& post);
// wgmma_wait's collective: performs the warp's completed wgmma (emu_async.cpp).
void perform_wgmma(Block& blk, int warp);
// `bytes` at p lie inside the block's shared memory.
inline bool in_shared(const Block& blk, const unsigned char* p, size_t bytes) {
  return p >= blk.smem && p + bytes <= blk.smem + blk.smem_bytes;
}

}  // namespace attncamp::emu::internal
