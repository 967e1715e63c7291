// CPU emulator of CUDA kernel launches for kernel headers compiled by g++ (tests/emu). A launch
// runs the grid's blocks on a few OS threads; a block's CUDA threads are fibers scheduled
// cooperatively on one of them, switching at __syncthreads and at warp collectives. Collectives
// (__syncwarp, shuffles, ldmatrix, mma) follow the PTX ISA: each lane posts its operands, and
// once all 32 lanes of the warp have, every lane's result is computed from all the posts.
// cp.async copies land at the latest moment the PTX semantics allow. Alignment and shared-memory
// bounds of cp.async and ldmatrix, whole-warp collectives, barriers every thread reaches and
// cp.async copies waited for before exit are checked; a violation throws attncamp::Error naming
// the block and thread.
#pragma once

#include <vector_types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace attncamp::emu {

// Host memory standing for a device allocation.
struct Buffer {
  const void* data = nullptr;
  size_t bytes = 0;
};

// How a block's threads interleave. Both are legal schedules of a correct kernel; each exposes
// a missing __syncthreads differently.
enum class Schedule {
  // Each warp runs as far as it can (to a __syncthreads or its end) before the next one starts:
  // a warp reading what another warp has not yet written (or overwriting what it has not yet
  // read, cp.async destinations turning to 0xff bytes at issue) sees garbage.
  kWarpByWarp,
  // Every thread runs until it blocks, in turn: warps advance by one collective each round.
  kLockstep,
};

struct LaunchOptions {
  // OS threads running blocks concurrently; 0: the hardware concurrency, at most 4.
  int workers = 0;
  Schedule schedule = Schedule::kWarpByWarp;
  // Take warps, and lanes within a warp, from the last to the first.
  bool reverse = false;
  // When not empty, the source of every cp.async must lie inside one of these.
  std::vector<Buffer> global;
};

// Largest dynamic shared memory of a block (the H100's opt-in limit, 227 KiB).
constexpr size_t kMaxSharedBytes = 232448;

// Runs body() as every thread of a `grid` of `block`-shaped blocks with `smem_bytes` of dynamic
// shared memory (filled with 0xff bytes, NaN in every float type, before each block starts).
// body is typically [&] { my_kernel<T, C>(args); }. The block size must be a multiple of 32.
// Returns when every block has finished; throws attncamp::Error on the first violation.
void launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body,
            const LaunchOptions& options = {});

// ---- Device side: called by the shim (cuda_emu.h) and the shadow ops/cuda/attention_warp.cuh.

// Throws attncamp::Error naming the calling block and thread.
[[noreturn]] void fail(const std::string& what);

// The running block's dynamic shared memory.
unsigned char* shared_memory();

// __syncthreads: waits until every thread of the block has arrived.
void block_barrier();

// __syncwarp: waits until every lane of the warp has arrived (mask must be the full warp).
void warp_barrier(unsigned mask);

// Warp shuffles of 32-bit values (mask must be the full warp, width a power of two <= 32).
// `xor_mode`: from lane ^ arg (__shfl_xor_sync), else from lane arg (__shfl_sync).
uint32_t shuffle(bool xor_mode, unsigned mask, uint32_t bits, int arg, int width);

// cp.async of `bytes` (4, 8 or 16) from global `src` to shared `dst`; zeros when !fill. Queued per
// thread; commit closes the group of queued copies, wait_all performs every committed copy.
void cp_async(void* dst, const void* src, int bytes, bool fill);
void cp_async_commit();
void cp_async_wait_all();

// ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16 with this lane's row address.
void ldmatrix_x4(uint32_t (&r)[4], const void* row_address, bool trans);

// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32: d += A B.
enum class MmaType { kBF16, kF16 };
void mma_16816(MmaType type, float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

// wgmma.mma_async.sync.aligned.m64nNk16.f32.{bf16,f16} (sm_90a) as one thread issues it: its
// N / 2 accumulators d (+)= A B, A (64 x 16) from the shared-memory descriptor desc_a (K-major or
// M-major: trans-a) or from the warp's m16n8k16 A fragment in a[4], B (16 x N) from desc_b,
// K-major or N-major (trans-b);
// descriptors without swizzle (ops/cuda/attention_wgmma.cuh describes layouts and descriptors).
// Nothing happens at issue but checks and poisoning d (NaN) unless an earlier wgmma of the thread
// still pending accumulates into the same d; the product is computed at the wgmma_wait that
// covers the op's group, from the shared memory of that moment, warp by warp (warp w of a
// warpgroup owns rows 16 (w % 4) ..). Checked: blocks of whole warpgroups, a wgmma_fence since the
// last wait before each issue, identical operands across the warp (but d and a), descriptors in
// shared memory, waits only for committed ops, no op left pending at exit.
struct WgmmaIssue {
  MmaType type;
  int n;     // columns of B and D: a multiple of 8 up to 256
  float* d;  // the thread's n / 2 accumulators
  uint64_t desc_a;
  uint32_t a[4];
  bool a_in_registers;
  bool a_mn_major;  // trans-a: A from desc_a contiguous along m
  uint64_t desc_b;
  bool b_mn_major;
  bool accumulate;  // false: d = A B
};
void wgmma(const WgmmaIssue& op);
void wgmma_fence();
// fence.proxy.async.shared::cta: this thread's cp.async writes become visible to wgmma (after a
// barrier). A wgmma that reads bytes a thread's cp.async wrote before that thread's fence fails.
void fence_proxy_async();
void wgmma_commit();           // the thread's uncommitted wgmma become a group
void wgmma_wait(int pending);  // performs all but the `pending` most recent groups

}  // namespace attncamp::emu
