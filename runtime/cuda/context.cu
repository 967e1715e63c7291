// CUDA side of runtime/cuda_context.h.
#include <cuda_runtime.h>

#include "runtime/cuda/check.h"
#include "runtime/cuda_context.h"

namespace attncamp {

void cuda_synchronize(int device) {
  ATTNCAMP_CUDA_CHECK(cudaSetDevice(device));
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(current_cuda_stream(device))));
}

}  // namespace attncamp
