// Lazily created per-device cuBLASLt handles and workspaces (leaked on purpose: destroying them
// at exit would run after the CUDA runtime has unloaded).
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <utility>

#include "runtime/cuda/blas.h"
#include "runtime/cuda/check.h"
#include "runtime/device.h"

namespace attncamp::cuda {
namespace {

std::mutex g_mu;

void check_device(int device) {
  const int count = cuda_device_count();
  ATTNCAMP_CHECK(device >= 0 && device < count, "cuBLASLt on CUDA device ", device, " requested but ", count,
                 " CUDA device(s) are visible");
}

}  // namespace

cublasLtHandle_t cublaslt_handle(int device) {
  static auto* handles = new std::map<int, cublasLtHandle_t>();
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = handles->find(device);
  if (it != handles->end()) return it->second;
  check_device(device);
  ATTNCAMP_CUDA_CHECK(cudaSetDevice(device));
  cublasLtHandle_t h = nullptr;
  ATTNCAMP_CUBLAS_CHECK(cublasLtCreate(&h));
  handles->emplace(device, h);
  return h;
}

void* cublaslt_workspace(int device, int slot) {
  static auto* spaces = new std::map<std::pair<int, int>, void*>();
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = spaces->find({device, slot});
  if (it != spaces->end()) return it->second;
  check_device(device);
  ATTNCAMP_CUDA_CHECK(cudaSetDevice(device));
  void* p = nullptr;
  ATTNCAMP_CUDA_CHECK(cudaMalloc(&p, kCublasLtWorkspaceBytes));
  spaces->emplace(std::make_pair(device, slot), p);
  return p;
}

}  // namespace attncamp::cuda
