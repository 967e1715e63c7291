// The arithmetic of the emulator's wgmma (see emu_runtime.h and ops/cuda/attention_wgmma.cuh):
// operands decoded from no-swizzle shared-memory descriptors or from the warp's A fragments,
// products summed in f64 and rounded to f32 once with C, as compute_mma does for mma.sync.
#include "emu_wgmma.h"

#include <cuda_fp16.h>

#include <cstring>
#include <vector>

#include "runtime/error.h"

namespace attncamp::emu::wgmma_detail {
namespace {

// A decoded no-swizzle descriptor: byte offsets into shared memory.
struct Desc {
  size_t start, lbo, sbo;
};

Desc decode(uint64_t desc, const char* operand) {
  const unsigned swizzle = static_cast<unsigned>(desc >> 62), base = static_cast<unsigned>(desc >> 49) & 7u;
  if (swizzle != 0 || base != 0) {
    fail(detail::str_cat("wgmma ", operand, " descriptor has swizzle mode ", swizzle, " and base offset ", base,
                         ": the emulator implements the no-swizzle layout only"));
  }
  return {static_cast<size_t>(desc & 0x3fffu) << 4, static_cast<size_t>((desc >> 16) & 0x3fffu) << 4,
          static_cast<size_t>((desc >> 32) & 0x3fffu) << 4};
}

// The 16-bit element at byte `offset` of shared memory.
uint16_t element_bits(const unsigned char* smem, size_t smem_bytes, size_t offset, const char* operand) {
  if (offset + 2 > smem_bytes) {
    fail(detail::str_cat("wgmma ", operand, " reads shared-memory byte ", offset, ", outside the block's ", smem_bytes,
                         " bytes"));
  }
  uint16_t bits;
  std::memcpy(&bits, smem + offset, 2);
  return bits;
}

// Byte offset of A's element (m, k): K-major at start + (m / 8) SBO + (k / 8) LBO + (m % 8) 16 +
// (k % 8) 2, M-major with (m % 8) 2 + (k % 8) 16 instead.
size_t a_offset(const WgmmaIssue& op, const Desc& da, size_t m, size_t k) {
  const size_t in_core = op.a_mn_major ? m % 8 * 2 + k % 8 * 16 : m % 8 * 16 + k % 8 * 2;
  return da.start + m / 8 * da.sbo + k / 8 * da.lbo + in_core;
}

// Byte offset of B[k][col]: K-major at start + (col / 8) SBO + (col % 8) 16 + (k / 8) LBO +
// (k % 8) 2; MN-major at start + (col / 8) SBO + (col % 8) 2 + (k / 8) LBO + (k % 8) 16.
size_t b_offset(const WgmmaIssue& op, const Desc& db, size_t k, size_t col) {
  return op.b_mn_major ? db.start + col / 8 * db.sbo + col % 8 * 2 + k / 8 * db.lbo + k % 8 * 16
                       : db.start + col / 8 * db.sbo + col % 8 * 16 + k / 8 * db.lbo + k % 8 * 2;
}

}  // namespace

float to_f32(MmaType type, uint16_t bits) {
  if (type == MmaType::kBF16) {
    const uint32_t u = uint32_t{bits} << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  __half_raw raw;
  raw.x = bits;
  return __half2float(__half(raw));
}

std::vector<size_t> operand_offsets(const WgmmaIssue& op, int warp_in_group) {
  std::vector<size_t> offsets;
  if (!op.a_in_registers) {
    const Desc da = decode(op.desc_a, "A");
    for (size_t m = static_cast<size_t>(16 * warp_in_group); m < static_cast<size_t>(16 * warp_in_group + 16); ++m) {
      for (size_t k = 0; k < 16; ++k) offsets.push_back(a_offset(op, da, m, k));
    }
  }
  const Desc db = decode(op.desc_b, "B");
  for (size_t k = 0; k < 16; ++k) {
    for (size_t col = 0; col < static_cast<size_t>(op.n); ++col) offsets.push_back(b_offset(op, db, k, col));
  }
  return offsets;
}

std::vector<uint16_t> operand_bits(const WgmmaIssue& op, const std::vector<size_t>& offsets, const unsigned char* smem,
                                   size_t smem_bytes) {
  const size_t a_elems = op.a_in_registers ? 0 : 16 * 16;  // A's elements come first
  std::vector<uint16_t> bits;
  for (size_t i = 0; i < offsets.size(); ++i) {
    bits.push_back(element_bits(smem, smem_bytes, offsets[i], i < a_elems ? "A" : "B"));
  }
  return bits;
}

void perform(const Lane (&lanes)[32], int warp_in_group, const unsigned char* smem, size_t smem_bytes) {
  const WgmmaIssue& op = *lanes[0].op;
  const int n = op.n;
  float a[16][16];
  if (op.a_in_registers) {  // the m16n8k16 A fragment layout, lane = 4 g + t
    auto split = [&](uint32_t reg, float& lo, float& hi) {
      lo = to_f32(op.type, static_cast<uint16_t>(reg & 0xffffu));
      hi = to_f32(op.type, static_cast<uint16_t>(reg >> 16));
    };
    for (int l = 0; l < 32; ++l) {
      const int g = l / 4, t = l % 4;
      const uint32_t* r = lanes[l].op->a;
      split(r[0], a[g][2 * t], a[g][2 * t + 1]);
      split(r[1], a[g + 8][2 * t], a[g + 8][2 * t + 1]);
      split(r[2], a[g][2 * t + 8], a[g][2 * t + 9]);
      split(r[3], a[g + 8][2 * t + 8], a[g + 8][2 * t + 9]);
    }
  } else {
    const Desc da = decode(op.desc_a, "A");
    for (int r = 0; r < 16; ++r) {
      const size_t m = static_cast<size_t>(16 * warp_in_group + r);
      for (size_t k = 0; k < 16; ++k) {
        a[r][k] = to_f32(op.type, element_bits(smem, smem_bytes, a_offset(op, da, m, k), "A"));
      }
    }
  }
  const Desc db = decode(op.desc_b, "B");
  std::vector<float> b(static_cast<size_t>(16 * n));
  for (size_t k = 0; k < 16; ++k) {
    for (size_t col = 0; col < static_cast<size_t>(n); ++col) {
      b[k * static_cast<size_t>(n) + col] =
          to_f32(op.type, element_bits(smem, smem_bytes, b_offset(op, db, k, col), "B"));
    }
  }
  for (int l = 0; l < 32; ++l) {
    const int g = l / 4, t = l % 4;
    float* d = lanes[l].op->d;
    for (int j = 0; j < n / 8; ++j) {
      for (int e = 0; e < 4; ++e) {
        const int row = g + 8 * (e / 2), col = 8 * j + 2 * t + e % 2, i = 4 * j + e;
        double sum = 0;
        for (int k = 0; k < 16; ++k) sum += static_cast<double>(a[row][k]) * b[static_cast<size_t>(k * n + col)];
        const double c = !op.accumulate ? 0.0 : lanes[l].c != nullptr ? lanes[l].c[i] : d[i];
        d[i] = static_cast<float>(c + sum);
      }
    }
  }
}

}  // namespace attncamp::emu::wgmma_detail
