// cuBLASLt handles and workspaces, one per device, created on first use (a GPU-less machine
// never touches cuBLAS). cuBLASLt handles are not tied to a stream: the stream is passed to
// each cublasLtMatmul, so one handle per device serves every stream. CUDA translation units only.
#pragma once

#include <cublasLt.h>

#include <cstddef>

#include "runtime/error.h"

// Checks a cuBLAS / cuBLASLt status; failure throws attncamp::Error with the call and status.
#define ATTNCAMP_CUBLAS_CHECK(call)                                                                                   \
  do {                                                                                                                \
    const cublasStatus_t attncamp_st_ = (call);                                                                       \
    if (attncamp_st_ != CUBLAS_STATUS_SUCCESS) {                                                                      \
      ATTNCAMP_THROW(#call, " failed: ", cublasLtGetStatusString(attncamp_st_), " (", static_cast<int>(attncamp_st_), \
                     ")");                                                                                            \
    }                                                                                                                 \
  } while (0)

namespace attncamp::cuda {

// The cuBLASLt handle of `device` (created on first call; lives until process exit).
cublasLtHandle_t cublaslt_handle(int device);

// Workspace for cublasLtMatmul on `device`: kCublasLtWorkspaceBytes of device memory, shared by
// every stream of the device. Matmuls on different streams of one device must not run
// concurrently with the same workspace, so a side stream that runs GEMMs uses its own
// (cublaslt_workspace(device, slot) with slot > 0).
constexpr size_t kCublasLtWorkspaceBytes = size_t{32} << 20;
void* cublaslt_workspace(int device, int slot = 0);

}  // namespace attncamp::cuda
