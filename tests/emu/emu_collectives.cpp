// The CUDA emulator's warp collectives: the last lane of a warp to reach __syncwarp, a shuffle,
// ldmatrix or mma.sync computes every lane's result from their posted operands (PTX ISA layouts)
// and releases the warp; lanes that reach another collective meanwhile fail (divergent warp).
#include <cstring>

#include "cuda_emu.h"
#include "emu_internal.h"
#include "emu_wgmma.h"
#include "runtime/error.h"

namespace attncamp::emu {

using namespace internal;  // the emulator's shared state (emu_internal.h)

namespace internal {

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

namespace {

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

}  // namespace

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

}  // namespace internal

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

}  // namespace attncamp::emu
