// Fibers of the CUDA emulator (tests/emu): every emulated CUDA thread runs on a stack of its own
// and switches back to its block's scheduler at barriers and warp collectives. On x86-64 a switch
// saves and restores the callee-saved registers and the stack pointer (a few nanoseconds);
// elsewhere (or with -DATTNCAMP_EMU_UCONTEXT) ucontext does it, with a system call per switch.
#pragma once

#include <cstddef>

#if defined(__x86_64__) && !defined(ATTNCAMP_EMU_UCONTEXT)
#define ATTNCAMP_EMU_ASM_SWITCH 1
#else
#define ATTNCAMP_EMU_ASM_SWITCH 0
#include <ucontext.h>
#endif

namespace attncamp::emu {

// The saved state of a suspended fiber (or of the scheduler while a fiber runs).
struct Context {
#if ATTNCAMP_EMU_ASM_SWITCH
  void* sp = nullptr;
#else
  ucontext_t uc;
  void (*entry)(void*) = nullptr;
  void* arg = nullptr;
#endif
};

// Makes `ctx` run entry(arg) on the stack [lo, lo + bytes) when first switched to. `entry` must
// never return (it switches away for good instead).
void make_context(Context& ctx, void* lo, size_t bytes, void (*entry)(void*), void* arg);

// Saves the running state into `from` and resumes `to`.
void switch_context(Context& from, Context& to);

// `count` stacks of `bytes` each (a multiple of the page size), each with an inaccessible guard
// page below it, so an overflow faults instead of overwriting the neighbouring fiber.
class StackPool {
 public:
  StackPool(size_t count, size_t bytes);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  void* stack(size_t i) const;
  size_t bytes() const { return bytes_; }
  size_t count() const { return count_; }

 private:
  unsigned char* base_ = nullptr;
  size_t count_ = 0, bytes_ = 0, page_ = 0;
};

}  // namespace attncamp::emu
