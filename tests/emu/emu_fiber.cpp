// Fiber switching and stacks of the CUDA emulator (see emu_fiber.h).
#include "emu_fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "runtime/error.h"

#if ATTNCAMP_EMU_ASM_SWITCH

// attncamp_emu_switch(save_sp, load_sp): pushes the callee-saved registers (System V ABI: rbp,
// rbx, r12-r15, and the MXCSR and x87 control words), stores the stack pointer in *save_sp, loads
// load_sp and pops the same frame from there. attncamp_emu_start is where a new fiber's first
// switch returns to: it calls r13(r12), which never returns (CFI marks it as the outermost frame).
extern "C" void attncamp_emu_switch(void** save_sp, void* load_sp);
extern "C" void attncamp_emu_start();

asm(R"(
  .pushsection .text
  .p2align 4
  .globl attncamp_emu_switch
  .hidden attncamp_emu_switch
  .type attncamp_emu_switch, @function
attncamp_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size attncamp_emu_switch, .-attncamp_emu_switch

  .p2align 4
  .globl attncamp_emu_start
  .hidden attncamp_emu_start
  .type attncamp_emu_start, @function
attncamp_emu_start:
  .cfi_startproc
  .cfi_undefined rip
  movq %r12, %rdi
  callq *%r13
  ud2
  .cfi_endproc
  .size attncamp_emu_start, .-attncamp_emu_start
  .popsection
)");

#endif

namespace attncamp::emu {

#if ATTNCAMP_EMU_ASM_SWITCH

void make_context(Context& ctx, void* lo, size_t bytes, void (*entry)(void*), void* arg) {
  // The frame attncamp_emu_switch pops, below a return address into attncamp_emu_start placed so
  // that the stack is 16-byte aligned when attncamp_emu_start calls entry.
  const uintptr_t top = (reinterpret_cast<uintptr_t>(lo) + bytes) & ~uintptr_t{15};
  uint64_t* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = reinterpret_cast<uint64_t>(&attncamp_emu_start);
  *--sp = 0;                                  // rbp
  *--sp = 0;                                  // rbx
  *--sp = reinterpret_cast<uint64_t>(arg);    // r12
  *--sp = reinterpret_cast<uint64_t>(entry);  // r13
  *--sp = 0;                                  // r14
  *--sp = 0;                                  // r15
  uint32_t mxcsr = 0;
  uint16_t fpucw = 0;
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(fpucw));
  *--sp = uint64_t{mxcsr} | uint64_t{fpucw} << 32;  // the floating-point modes of the creating thread
  ctx.sp = sp;
}

void switch_context(Context& from, Context& to) { attncamp_emu_switch(&from.sp, to.sp); }

#else

namespace {
// makecontext passes int arguments only: the Context pointer travels as two halves.
void start_fiber(unsigned hi, unsigned lo) {
  const Context* c = reinterpret_cast<const Context*>(static_cast<uintptr_t>(hi) << 32 | lo);
  c->entry(c->arg);
}
}  // namespace

void make_context(Context& ctx, void* lo, size_t bytes, void (*entry)(void*), void* arg) {
  ATTNCAMP_CHECK(getcontext(&ctx.uc) == 0, "emu: getcontext failed: ", std::strerror(errno));
  ctx.uc.uc_stack.ss_sp = lo;
  ctx.uc.uc_stack.ss_size = bytes;
  ctx.uc.uc_link = nullptr;
  ctx.entry = entry;
  ctx.arg = arg;
  const uintptr_t p = reinterpret_cast<uintptr_t>(&ctx);
  makecontext(&ctx.uc, reinterpret_cast<void (*)()>(start_fiber), 2, static_cast<unsigned>(p >> 32),
              static_cast<unsigned>(p & 0xffffffffu));
}

void switch_context(Context& from, Context& to) {
  ATTNCAMP_CHECK(swapcontext(&from.uc, &to.uc) == 0, "emu: swapcontext failed: ", std::strerror(errno));
}

#endif

StackPool::StackPool(size_t count, size_t bytes) : count_(count), bytes_(bytes) {
  page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  ATTNCAMP_CHECK(bytes_ % page_ == 0, "emu: fiber stack size ", bytes_, " is not a multiple of the page size ", page_);
  const size_t total = count_ * (bytes_ + page_);
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ATTNCAMP_CHECK(p != MAP_FAILED, "emu: cannot map ", total, " bytes of fiber stacks: ", std::strerror(errno));
  base_ = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < count_; ++i) {
    ATTNCAMP_CHECK(mprotect(base_ + i * (bytes_ + page_), page_, PROT_NONE) == 0,
                   "emu: cannot protect a fiber stack guard page: ", std::strerror(errno));
  }
}

StackPool::~StackPool() {
  if (base_ != nullptr) munmap(base_, count_ * (bytes_ + page_));
}

void* StackPool::stack(size_t i) const { return base_ + i * (bytes_ + page_) + page_; }

}  // namespace attncamp::emu
