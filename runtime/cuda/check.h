// Check macros for CUDA runtime calls and kernel launches: a failure throws
// attncamp::Error naming the call, the CUDA error string, file:line and rank.
#pragma once

#include <cuda_runtime.h>

#include "runtime/error.h"

#define ATTNCAMP_CUDA_CHECK(call)                                                                                  \
  do {                                                                                                             \
    const cudaError_t attncamp_err_ = (call);                                                                      \
    if (attncamp_err_ != cudaSuccess) {                                                                            \
      ATTNCAMP_THROW(#call, " failed: ", cudaGetErrorString(attncamp_err_), " (", static_cast<int>(attncamp_err_), \
                     ")");                                                                                         \
    }                                                                                                              \
  } while (0)

// After every kernel launch: reports launch-configuration errors at the launch site.
#define ATTNCAMP_CUDA_LAUNCH_CHECK() ATTNCAMP_CUDA_CHECK(cudaGetLastError())
