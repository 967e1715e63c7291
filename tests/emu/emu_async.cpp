// The CUDA emulator's asynchronous copies and products: cp.async lands at the wait after its
// commit (poisoned until then); wgmma is recorded at issue and performed at the wgmma_wait that
// covers its group, from that moment's shared memory (which must still hold what it held at issue),
// with its accumulators poisoned meanwhile.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cuda_emu.h"
#include "emu_internal.h"
#include "emu_wgmma.h"
#include "runtime/error.h"

namespace attncamp::emu {

using namespace internal;  // the emulator's shared state (emu_internal.h)

namespace internal {

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
    if (wgmma_detail::operand_bits(op0, wgmma_detail::operand_offsets(op0, warp % 4), blk.smem, blk.smem_bytes) !=
        lanes[0].wgmma[static_cast<size_t>(i)].operands) {
      fail(detail::str_cat("wgmma ", i,
                           " of the wait: shared memory it reads changed between its issue and this "
                           "wait (written while the wgmma was in flight)"));
    }
    wgmma_detail::perform(in, warp % 4, blk.smem, blk.smem_bytes);
  }
  for (int l = 0; l < kWarpSize; ++l) lanes[l].wgmma.erase(lanes[l].wgmma.begin(), lanes[l].wgmma.begin() + count);
}

}  // namespace internal

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
  Thread& t = current();
  Block& blk = *t.block;
  std::vector<Copy>& copies = t.copies;
  for (const Copy& c : copies) {
    if (!c.committed) continue;
    if (c.fill) {
      std::memcpy(c.dst, c.src, static_cast<size_t>(c.bytes));
    } else {
      std::memset(c.dst, 0, static_cast<size_t>(c.bytes));
    }
    const auto at = static_cast<size_t>(c.dst - blk.smem);
    std::fill_n(blk.unfenced_by.begin() + static_cast<std::ptrdiff_t>(at), c.bytes, t.linear + 1);
    t.unfenced.push_back(c);
  }
  copies.erase(std::remove_if(copies.begin(), copies.end(), [](const Copy& c) { return c.committed; }), copies.end());
}

void wgmma(const WgmmaIssue& op) {
  Thread& t = current();
  if (t.block->threads.size() % (4 * kWarpSize) != 0) {
    fail(detail::str_cat("wgmma in a block of ", t.block->threads.size(), " threads (whole warpgroups of 128 needed)"));
  }
  if (!t.wgmma_fenced) fail("wgmma issued without a wgmma_fence since the start or the last wgmma_wait");
  if (op.n < 8 || op.n > 256 || op.n % 8 != 0) fail(detail::str_cat("wgmma with N = ", op.n));
  PendingWgmma pw{op, -1, {}, {}};
  if (t.lane == 0) {
    const std::vector<size_t> offsets = wgmma_detail::operand_offsets(op, t.warp % 4);
    pw.operands = wgmma_detail::operand_bits(op, offsets, t.block->smem, t.block->smem_bytes);  // bounds checked
    for (const size_t offset : offsets) {
      const int writer = std::max(t.block->unfenced_by[offset], t.block->unfenced_by[offset + 1]);
      if (writer != 0) {
        fail(detail::str_cat("wgmma reads shared-memory byte ", offset, ", which thread ", writer - 1,
                             "'s cp.async wrote with no fence_proxy_async by that thread since (wgmma, the async "
                             "proxy, is not ordered after that write)"));
      }
    }
  }
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

void fence_proxy_async() {
  Thread& t = current();
  Block& blk = *t.block;
  for (const Copy& c : t.unfenced) {
    const auto at = static_cast<size_t>(c.dst - blk.smem);
    for (size_t i = at; i < at + static_cast<size_t>(c.bytes); ++i) {
      if (blk.unfenced_by[i] == t.linear + 1) blk.unfenced_by[i] = 0;
    }
  }
  t.unfenced.clear();
}

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
