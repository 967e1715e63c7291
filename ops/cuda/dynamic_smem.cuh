// The block's dynamic shared memory for kernel headers that the CUDA emulator also runs: a static
// __shared__ array would be one per thread there, so such kernels take their shared memory from
// here (tests/emu/ops/cuda/dynamic_smem.cuh is the emulator's shadow of this header).
#pragma once

namespace attncamp::ops::cuda {

// The block's dynamic shared memory (16-byte aligned), as many bytes as the launch gave.
__device__ __forceinline__ unsigned char* block_dynamic_smem() {
  extern __shared__ __align__(16) unsigned char attncamp_block_dynamic_smem[];
  return attncamp_block_dynamic_smem;
}

}  // namespace attncamp::ops::cuda
