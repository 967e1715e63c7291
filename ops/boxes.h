// Box ops of the detectors, with torchvision's conventions: boxes are [N,4] float tensors in xyxy
// pixel coordinates (x1, y1, x2, y2), widths x2 - x1 with no +1, area = (x2 - x1) * (y2 - y1).
// Pairwise IoU and GIoU, format conversions, clipping, the small-box filter (a data-dependent
// output: an i64 keep list) and check_boxes, the validation done once at a data boundary.
//
// Invalid boxes: none of these ops validates its boxes (on CUDA that would cost a host sync per
// call). Call check_boxes where boxes enter (ground truth from a file, proposals from a model)
// and each op's comment says what it does with a box that has x2 < x1, y2 < y1 or a non-finite
// coordinate. Empty boxes (x2 == x1 or y2 == y1) are valid and have defined results.
//
// Dtypes: CPU f32 or f64 (one dtype per call; IoU and GIoU computed in double, the rest in the
// dtype); CUDA f32 (computed in f32).
#pragma once

#include <cstdint>

#include "ops/check.h"
#include "runtime/tensor.h"

namespace attncamp::ops {

// The box-tensor rule of the detection ops: `t` is defined, contiguous, [N,4] (N >= 0) and f32 or
// f64 on the CPU, f32 on CUDA (`cuda`, on_cuda's answer); the message names `op` and `what`.
void check_box_tensor(const char* op, const char* what, const Tensor& t, bool cuda);
inline DTypeSet box_dtypes(bool cuda) { return cuda ? DTypeSet{DType::kF32} : kCpuFloat; }

// How a [N,4] tensor stores its boxes: xyxy (x1, y1, x2, y2), xywh (COCO: x1, y1, width, height),
// cxcywh (centre x, centre y, width, height).
enum class BoxFormat { kXyxy, kXywh, kCxcywh };
const char* box_format_name(BoxFormat format);

// iou [N,M] = IoU(a[i], b[j]) = inter / union for xyxy boxes a [N,4] and b [M,4], with
// inter = max(0, min(x2) - max(x1)) * max(0, min(y2) - max(y1)) and union = area_a + area_b -
// inter. Where union <= 0 (both boxes empty) the IoU is defined as 0 (torchvision gives NaN).
// Invalid boxes enter the formulas as they are (a negative width gives a negative area); a NaN
// coordinate gives NaN or an unspecified value. Outputs are in [0, 1] for valid boxes.
void box_iou(const Tensor& a, const Tensor& b, Tensor& iou);

// giou [N,M] = GIoU(a[i], b[j]) = IoU - (C - union) / C, C the area of the smallest box enclosing
// both (torchvision's generalized_box_iou). Where C <= 0 (both boxes empty and on one line or
// point) the GIoU is the IoU, so 0; two empty boxes apart get -1. Values in [-1, 1] for valid
// boxes; invalid boxes as for box_iou.
void generalized_box_iou(const Tensor& a, const Tensor& b, Tensor& giou);

// out [N,4] = boxes [N,4] converted from `from` to `to`, with torchvision's arithmetic:
// xyxy -> xywh: (x1, y1, x2 - x1, y2 - y1); xywh -> xyxy: (x, y, x + w, y + h);
// xyxy -> cxcywh: ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1);
// cxcywh -> xyxy: (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2); xywh <-> cxcywh through xyxy,
// the intermediate rounded to the dtype. Computed in the dtype (exact for these operations except
// for the sums' rounding), so the CPU f32 and CUDA results agree bit for bit. `out` may be
// `boxes` (in place). Any values pass through (no validation).
void box_convert(const Tensor& boxes, BoxFormat from, BoxFormat to, Tensor& out);

// out [N,4] = xyxy boxes [N,4] with x clamped to [0, width] and y to [0, height] (pixels;
// height, width >= 0). `out` may be `boxes`. NaN stays NaN; a box with x2 < x1 stays inverted.
void clip_boxes_to_image(const Tensor& boxes, int64_t height, int64_t width, Tensor& out);

// The indices of the xyxy boxes [N,4] whose width and height are both >= min_size (min_size
// rounded to the boxes' dtype, and widths computed in it, as torchvision does): a new contiguous
// i64 [K] tensor on the boxes' device, in ascending order ([0] when none is kept). A box with a
// NaN coordinate or x2 < x1 (negative width) is removed. On CUDA the work stays on the device and
// only K (8 bytes) comes back to the host before the result is allocated.
Tensor remove_small_boxes(const Tensor& boxes, double min_size);

// Validation at a data boundary: throws attncamp::Error unless `boxes` is a [N,4] f32 or f64
// tensor (f32 on CUDA) of xyxy boxes, each with finite coordinates, x1 <= x2 and y1 <= y2. The
// message names `role` (what the boxes are, e.g. "gt_boxes of image 17"), the first bad box's index
// and its coordinates. On CUDA a device-side reduction finds the first bad index and one 8-byte
// copy brings it back (the call waits for the stream); only an error copies the bad box too.
void check_boxes(const Tensor& boxes, const char* role);

namespace cpu {
// A [n,4] array of boxes.
template <class T>
struct BoxesParams {
  int64_t n = 0;
  const T* boxes = nullptr;
};
// iou or giou [n_a, n_b] (row-major) of a against b, accumulated in double.
template <class T>
void box_iou(const BoxesParams<T>& a, const BoxesParams<T>& b, bool generalized, T* out);
template <class T>
void box_convert(const BoxesParams<T>& in, BoxFormat from, BoxFormat to, T* out);
template <class T>
void clip_boxes_to_image(const BoxesParams<T>& in, T height, T width, T* out);
// Writes keep[i] = 1 or 0 for each box; returns the count kept.
template <class T>
int64_t small_box_flags(const BoxesParams<T>& in, T min_size, uint8_t* keep);
// The index of the first invalid box, or n when there is none.
template <class T>
int64_t first_bad_box(const BoxesParams<T>& in);
}  // namespace cpu

// CUDA launchers (ops/cuda/boxes.cu; kernels in ops/cuda/boxes.cuh), queued on the calling
// thread's current stream of `device`. Device pointers, f32.
namespace cuda {
struct BoxIouArgs {
  int64_t n = 0, m = 0;
  const float* a = nullptr;  // [n,4]
  const float* b = nullptr;  // [m,4]
  float* out = nullptr;      // [n,m]
  bool generalized = false;  // GIoU instead of IoU
  int device = 0;
};
void box_iou(const BoxIouArgs& a);

struct BoxConvertArgs {
  int64_t n = 0;
  const float* in = nullptr;  // [n,4]
  float* out = nullptr;       // [n,4], may be `in`
  BoxFormat from = BoxFormat::kXyxy, to = BoxFormat::kXyxy;
  int device = 0;
};
void box_convert(const BoxConvertArgs& a);

struct ClipBoxesArgs {
  int64_t n = 0;
  const float* in = nullptr;  // [n,4]
  float* out = nullptr;       // [n,4], may be `in`
  float height = 0, width = 0;
  int device = 0;
};
void clip_boxes_to_image(const ClipBoxesArgs& a);

struct SmallBoxesArgs {
  int64_t n = 0;
  const float* boxes = nullptr;  // [n,4]
  float min_size = 0;
  int device = 0;
};
// The keep list as a new i64 [K] tensor on `device` (waits for the stream to learn K).
Tensor remove_small_boxes(const SmallBoxesArgs& a);

struct CheckBoxesArgs {
  int64_t n = 0;
  const float* boxes = nullptr;  // [n,4]
  int device = 0;
};
// The index of the first invalid box, or n when there is none (waits for the stream).
int64_t first_bad_box(const CheckBoxesArgs& a);
}  // namespace cuda

}  // namespace attncamp::ops
