// Non-maximum suppression of boxes (torchvision.ops.nms and batched_nms): boxes are visited from
// the highest score down, and each box is kept unless its IoU with an already kept box (of the
// same class, for batched_nms) is above the threshold. The order is total and the same on every
// device (score descending, NaN last, equal scores by lower index first; torchvision leaves ties
// to its sort, so its CPU and GPU can keep different boxes), and the IoU test is the same
// arithmetic on both (ops/nms_math.h: f32 operations rounded one at a time, on the GPU through
// __fsub_rn/__fmul_rn/__fadd_rn/__fdiv_rn so nvcc fuses nothing into an FMA, on the CPU compiled
// with -ffp-contract=off), so the CPU and CUDA keep lists are identical on any input. Every path
// is deterministic (no atomics), so ATTNCAMP_DETERMINISTIC changes nothing here.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace attncamp::ops {

// How batched_nms keeps classes apart.
enum class BatchedNmsPath {
  // kCoordinateTrick below kPerClassMinBoxes boxes on the CPU, or kPerClassMinBoxesCuda on CUDA,
  // kPerClass from there on: torchvision's choice (its batched_nms thresholds on boxes.numel(),
  // 4000 on the CPU and 20000 on CUDA, i.e. 1000 and 5000 boxes).
  kAuto,
  // One NMS over all boxes in which boxes of different classes never suppress each other: what
  // torchvision's coordinate trick achieves by shifting every box by class * (max coordinate + 1).
  // Here the classes are compared instead of shifting coordinates, so every IoU is computed on the
  // original coordinates and the keep list equals kPerClass's exactly (shifted coordinates round
  // differently, and lose precision for large class ids).
  kCoordinateTrick,
  // One NMS per class (on CUDA all classes at once, one thread block per class), the kept boxes
  // then merged in score order.
  kPerClass,
};

inline constexpr int64_t kPerClassMinBoxes = 1001;
inline constexpr int64_t kPerClassMinBoxesCuda = 5001;

struct NmsOptions {
  // Top-k pre-selection: only the max_candidates best-scored boxes (in the order above) take
  // part; the rest are dropped. -1: all boxes.
  int64_t max_candidates = -1;
  BatchedNmsPath path = BatchedNmsPath::kAuto;  // batched_nms only
};

// boxes [N,4] xyxy in pixels, scores [N], contiguous, on one device; CPU: f32 or f64 (both one
// dtype; f64 computes the IoU in double); CUDA: f32. A box is suppressed when its IoU with a kept
// box is > iou_threshold (strict, as torchvision; compared as in double). Returns keep, a new
// contiguous i64 tensor [K] on the inputs' device: the indices of the kept boxes in decreasing
// score order (ties: lower index first; NaN scores rank last and are kept or suppressed like any
// other box; a box with a NaN coordinate has NaN IoUs, so it neither suppresses nor is
// suppressed). On CUDA only K is copied to the host. iou_threshold must not be NaN.
//
// CUDA memory: a suppression bitmask of N * ceil(N / 64) 8-byte words (N after pre-selection;
// 20000 boxes: 50 MB) and the greedy sweep's ceil(N / 64) words of shared memory, which limits N
// to kMaxNmsBoxesCuda; use max_candidates to stay below.
Tensor nms(const Tensor& boxes, const Tensor& scores, double iou_threshold, const NmsOptions& options = {});

// nms within each class: class_ids [N] (i32 or i64, any values; on the boxes' device). Boxes of
// different classes never suppress each other. Returns keep as nms does, over all classes in
// decreasing score order. options.path picks how (both paths give the same keep list).
Tensor batched_nms(const Tensor& boxes, const Tensor& scores, const Tensor& class_ids, double iou_threshold,
                   const NmsOptions& options = {});

// The path batched_nms takes for `n` boxes (after pre-selection) when options.path is kAuto.
BatchedNmsPath batched_nms_path(int64_t n, bool cuda);

// Most boxes one CUDA NMS takes after pre-selection: the sweep keeps one bit per box, and a
// little more, in the 48 KiB of shared memory a block gets without opting in.
inline constexpr int64_t kMaxNmsBoxesCuda = 47 * 1024 / 8 * 64;

namespace cpu {
template <class T>
struct NmsParams {
  int64_t n = 0;                       // boxes
  const T* boxes = nullptr;            // [n, 4] xyxy
  const T* scores = nullptr;           // [n]
  const int64_t* class_ids = nullptr;  // [n], or nullptr: one class
  double iou_threshold = 0.5;
  int64_t max_candidates = -1;  // -1: all
  bool per_class = false;       // with class_ids: one NMS per class (else one class-aware NMS)
};
// Writes the kept indices, in score order, to keep[0, K) (room for n) and returns K.
template <class T>
int64_t nms(const NmsParams<T>& p, int64_t* keep);
}  // namespace cpu

// CUDA launcher (ops/cuda/nms.cu), queued on the calling thread's current stream of `device`;
// waits for the kept count only.
namespace cuda {
struct NmsArgs {
  int64_t n = 0;
  const float* boxes = nullptr;     // [n, 4] xyxy, any alignment
  const float* scores = nullptr;    // [n]
  const void* class_ids = nullptr;  // [n] of class_dtype, or nullptr: one class
  DType class_dtype = DType::kI64;  // i32 or i64
  double iou_threshold = 0.5;
  int64_t max_candidates = -1;
  bool per_class = false;
  int device = 0;
};
// Returns keep, a new i64 tensor [K] on the device.
Tensor nms(const NmsArgs& a);
}  // namespace cuda

}  // namespace attncamp::ops
