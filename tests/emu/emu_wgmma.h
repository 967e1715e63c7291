// Internal to the emulator: the arithmetic of one wgmma for the 32 lanes of a warp
// (emu_wgmma.cpp), called by emu_async.cpp's wgmma_wait collective.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "emu_runtime.h"

namespace attncamp::emu::wgmma_detail {

// One lane's op: `op` as it was issued, and the accumulators it adds to (the values d held at
// issue, or nullptr when an earlier op of the same group wrote d and d's current values count).
struct Lane {
  const WgmmaIssue* op;
  const float* c;
};

// Byte offsets into shared memory of the 16-bit elements one warp's part of `op` reads (rows
// 16 warp_in_group .. of A unless A is in registers, all of B), in a fixed order.
std::vector<size_t> operand_offsets(const WgmmaIssue& op, int warp_in_group);

// The 16-bit patterns at `offsets` (operand_offsets(op, ...)): what must not change between the
// wgmma's issue and its wait. Fails naming A or B for an offset outside shared memory.
std::vector<uint16_t> operand_bits(const WgmmaIssue& op, const std::vector<size_t>& offsets, const unsigned char* smem,
                                   size_t smem_bytes);

// Writes every lane's op.d: D = C + A B for warp `warp_in_group` (rows 16 warp_in_group ..) of
// the warpgroup's 64 rows, reading descriptors against the block's shared memory.
void perform(const Lane (&lanes)[32], int warp_in_group, const unsigned char* smem, size_t smem_bytes);

// A 16-bit bf16 or f16 bit pattern as f32 (exact).
float to_f32(MmaType type, uint16_t bits);

}  // namespace attncamp::emu::wgmma_detail
