// CUDA RoIAlign launchers: the prepare kernel (ROI checks and geometry into a [K] workspace),
// then the forward, the atomic backward (into grad_input when it is f32, else into an f32 workspace
// rounded afterwards) or the deterministic gather backward, with 16-byte channel vectors when C and
// the pointers allow them. Each launcher ends by reading the lowest failing ROI index (8 bytes)
// and waiting for it. Kernels: ops/cuda/roi_align.cuh.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "ops/cuda/roi_align.cuh"
#include "ops/roi_align.h"
#include "runtime/cuda/launch.h"

namespace attncamp::ops::cuda {
namespace {

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The ROI workspace of a call: geometry [K] and the lowest failing ROI index.
struct Prepared {
  Tensor geom, first_bad;
  const roi::RoiGeom* rois() const { return static_cast<const roi::RoiGeom*>(geom.raw_data()); }
};

Prepared prepare(const RoiAlignShape& s, const float* rois, int device, cudaStream_t stream) {
  Prepared w;
  w.geom = Tensor::empty({s.num_rois * static_cast<int64_t>(sizeof(roi::RoiGeom))}, DType::kU8, Device::cuda(device));
  w.first_bad = Tensor::empty({1}, DType::kI64, Device::cuda(device));
  const roi::PrepareParams p = roi::prepare_params(s, rois, static_cast<roi::RoiGeom*>(w.geom.raw_data()),
                                                   static_cast<unsigned long long*>(w.first_bad.raw_data()));
  ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(p.first_bad, 0xff, sizeof(unsigned long long), stream));  // kNoBadRoi
  roi::prepare_kernel<<<roi::blocks_for(s.num_rois), roi::kThreads, 0, stream>>>(p);
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  return w;
}

// Waits for the stream and returns the lowest failing ROI index, or -1.
int64_t first_bad_roi(const Prepared& w, cudaStream_t stream) {
  unsigned long long bad = 0;
  ATTNCAMP_CUDA_CHECK(cudaMemcpyAsync(&bad, w.first_bad.raw_data(), sizeof(bad), cudaMemcpyDeviceToHost, stream));
  ATTNCAMP_CUDA_CHECK(cudaStreamSynchronize(stream));
  return bad == roi::kNoBadRoi ? -1 : static_cast<int64_t>(bad);
}

template <class T>
void forward_typed(const RoiAlignForwardArgs& a, const Prepared& w, cudaStream_t stream) {
  roi::ForwardParams<T> p;
  p.d = roi::dims_of(a.shape);
  p.geom = w.rois();
  p.input = static_cast<const T*>(a.input);
  p.output = static_cast<T*>(a.output);
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  const int64_t bins = a.shape.num_rois * a.shape.pooled_h * a.shape.pooled_w;
  if (a.shape.channels % kVec == 0 && aligned16(a.input) && aligned16(a.output)) {
    roi::forward_kernel<T, kVec><<<roi::blocks_for(bins * (a.shape.channels / kVec)), roi::kThreads, 0, stream>>>(p);
  } else {
    roi::forward_kernel<T, 1><<<roi::blocks_for(bins * a.shape.channels), roi::kThreads, 0, stream>>>(p);
  }
  ATTNCAMP_CUDA_LAUNCH_CHECK();
}

template <class T>
void backward_typed(const RoiAlignBackwardArgs& a, const Prepared& w, cudaStream_t stream) {
  const RoiAlignShape& s = a.shape;
  roi::BackwardParams<T> p;
  p.d = roi::dims_of(s);
  p.geom = w.rois();
  p.grad_output = static_cast<const T*>(a.grad_output);
  p.grad_input = static_cast<T*>(a.grad_input);
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  const bool vec = s.channels % kVec == 0 && aligned16(a.grad_output) && aligned16(a.grad_input);
  const int64_t pixels = s.batch * s.height * s.width;
  if (a.deterministic) {
    if (vec) {
      roi::backward_gather_kernel<T, kVec>
          <<<roi::blocks_for(pixels * (s.channels / kVec)), roi::kThreads, 0, stream>>>(p);
    } else {
      roi::backward_gather_kernel<T, 1><<<roi::blocks_for(pixels * s.channels), roi::kThreads, 0, stream>>>(p);
    }
    ATTNCAMP_CUDA_LAUNCH_CHECK();
    return;
  }
  const int64_t n = pixels * s.channels;
  Tensor workspace;
  if constexpr (std::is_same_v<T, float>) {
    p.accum = static_cast<float*>(a.grad_input);
  } else {
    workspace = Tensor::empty({n}, DType::kF32, Device::cuda(a.device));
    p.accum = workspace.data<float>();
  }
  ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(p.accum, 0, static_cast<size_t>(n) * sizeof(float), stream));
  const int64_t bins = s.num_rois * s.pooled_h * s.pooled_w;
  if (vec) {
    roi::backward_atomic_kernel<T, kVec><<<roi::blocks_for(bins * (s.channels / kVec)), roi::kThreads, 0, stream>>>(p);
  } else {
    roi::backward_atomic_kernel<T, 1><<<roi::blocks_for(bins * s.channels), roi::kThreads, 0, stream>>>(p);
  }
  ATTNCAMP_CUDA_LAUNCH_CHECK();
  if constexpr (!std::is_same_v<T, float>) {
    roi::round_kernel<T><<<roi::blocks_for(n), roi::kThreads, 0, stream>>>(p.accum, p.grad_input, n);
    ATTNCAMP_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace

int64_t roi_align_forward(const RoiAlignForwardArgs& a) {
  if (a.shape.num_rois == 0) return -1;
  cudaStream_t stream = ::attncamp::cuda::launch_stream(a.device);
  const Prepared w = prepare(a.shape, a.rois, a.device, stream);
  if (a.shape.channels > 0) {
    switch (a.act) {
      case DType::kF32: forward_typed<float>(a, w, stream); break;
      case DType::kBF16: forward_typed<__nv_bfloat16>(a, w, stream); break;
      case DType::kF16: forward_typed<__half>(a, w, stream); break;
      default: ATTNCAMP_THROW("roi_align_forward on CUDA: activation dtype ", dtype_name(a.act), " is not supported");
    }
  }
  return first_bad_roi(w, stream);
}

int64_t roi_align_backward(const RoiAlignBackwardArgs& a) {
  const RoiAlignShape& s = a.shape;
  cudaStream_t stream = ::attncamp::cuda::launch_stream(a.device);
  if (s.num_rois == 0) {
    const size_t bytes = static_cast<size_t>(s.batch * s.height * s.width * s.channels) * dtype_size(a.act);
    if (bytes > 0) ATTNCAMP_CUDA_CHECK(cudaMemsetAsync(a.grad_input, 0, bytes, stream));
    return -1;
  }
  const Prepared w = prepare(s, a.rois, a.device, stream);
  if (s.batch * s.height * s.width * s.channels > 0) {
    switch (a.act) {
      case DType::kF32: backward_typed<float>(a, w, stream); break;
      case DType::kBF16: backward_typed<__nv_bfloat16>(a, w, stream); break;
      case DType::kF16: backward_typed<__half>(a, w, stream); break;
      default: ATTNCAMP_THROW("roi_align_backward on CUDA: activation dtype ", dtype_name(a.act), " is not supported");
    }
  }
  return first_bad_roi(w, stream);
}

}  // namespace attncamp::ops::cuda
