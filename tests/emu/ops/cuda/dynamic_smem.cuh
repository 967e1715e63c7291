// Emulator shadow of ops/cuda/dynamic_smem.cuh (same API, same namespace): the running block's
// dynamic shared memory comes from the emulator (tests/emu/emu_runtime.h).
#pragma once

#include "cuda_emu.h"

namespace attncamp::ops::cuda {

// The block's dynamic shared memory (16-byte aligned; 0xff bytes until written).
__device__ __forceinline__ unsigned char* block_dynamic_smem() { return emu::shared_memory(); }

}  // namespace attncamp::ops::cuda
