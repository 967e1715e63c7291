// The arithmetic that the CPU reference and the CUDA kernels of NMS (ops/nms.h), top-k selection
// (ops/nms_topk.h) and sampling share, so that both sides make the same decisions bit for bit:
// the order of scores (sort keys: larger first, NaN last, -0 equal to +0, ties to the lower index)
// and the IoU test in one formula and operation order. In f32 every IoU operation is rounded
// once: on the device through __fsub_rn, __fmul_rn, __fadd_rn and __fdiv_rn, which nvcc never
// fuses into FMAs; on the host the files that evaluate it (ops/cpu/nms.cpp, the emulated-kernel
// test) are compiled with -ffp-contract=off, since g++ would otherwise fuse a*b + c.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define ATTNCAMP_NMS_HD __host__ __device__ __forceinline__
#else
#define ATTNCAMP_NMS_HD inline
#endif

namespace attncamp::ops {

// ---- Score order. Sorting (key ascending, index ascending) lists scores from the largest to the
// smallest, then NaN; -0 and +0 share a key (they tie, so the lower index goes first).

ATTNCAMP_NMS_HD uint32_t score_key(float s) {
  if (s != s) return 0xFFFFFFFFu;
  if (s == 0.0f) s = 0.0f;  // -0 -> +0
  uint32_t u;
#ifdef __CUDA_ARCH__
  u = __float_as_uint(s);
#else
  std::memcpy(&u, &s, sizeof(u));
#endif
  // Negative: larger magnitudes have larger bits, and come after every positive (sign bit set).
  // Positive: larger values have larger bits, so complement them into [0, 0x7FFFFFFF].
  return (u & 0x80000000u) != 0 ? u : ~u & 0x7FFFFFFFu;
}

// The same order for f64 scores (CPU only).
inline uint64_t score_key(double s) {
  if (s != s) return ~uint64_t{0};
  if (s == 0.0) s = 0.0;
  uint64_t u;
  std::memcpy(&u, &s, sizeof(u));
  constexpr uint64_t kSign = uint64_t{1} << 63;
  return (u & kSign) != 0 ? u : ~u & ~kSign;
}

// ---- IoU. Boxes are xyxy (x1, y1, x2, y2) with no +1 on widths (torchvision's convention):
// area = (x2 - x1) * (y2 - y1); inter = max(0, min(x2) - max(x1)) * max(0, min(y2) - max(y1));
// IoU = inter / ((area_a + area_b) - inter), and 0 when that union is 0. max and min are
// std::max/std::min's comparisons, so NaN coordinates behave as in torchvision's CPU kernel.

ATTNCAMP_NMS_HD float nms_sub(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
ATTNCAMP_NMS_HD float nms_add(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
ATTNCAMP_NMS_HD float nms_mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
ATTNCAMP_NMS_HD float nms_div(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
inline double nms_sub(double a, double b) { return a - b; }
inline double nms_add(double a, double b) { return a + b; }
inline double nms_mul(double a, double b) { return a * b; }
inline double nms_div(double a, double b) { return a / b; }

template <class T>
ATTNCAMP_NMS_HD T nms_max(T a, T b) {
  return a < b ? b : a;
}
template <class T>
ATTNCAMP_NMS_HD T nms_min(T a, T b) {
  return b < a ? b : a;
}

// Area of box (x1, y1, x2, y2).
template <class T>
ATTNCAMP_NMS_HD T box_area(T x1, T y1, T x2, T y2) {
  return nms_mul(nms_sub(x2, x1), nms_sub(y2, y1));
}

// IoU of boxes a and b whose areas (box_area) are given.
template <class T>
ATTNCAMP_NMS_HD T box_iou(T ax1, T ay1, T ax2, T ay2, T area_a, T bx1, T by1, T bx2, T by2, T area_b) {
  const T w = nms_max(T(0), nms_sub(nms_min(ax2, bx2), nms_max(ax1, bx1)));
  const T h = nms_max(T(0), nms_sub(nms_min(ay2, by2), nms_max(ay1, by1)));
  const T inter = nms_mul(w, h);
  const T uni = nms_sub(nms_add(area_a, area_b), inter);
  const T iou = nms_div(inter, uni);  // computed either way, so the selection below needs no branch
  return uni == T(0) ? T(0) : iou;
}

// The threshold in T that decides as `iou > threshold` in double would: the largest T not above
// `threshold` (a T value v exceeds it exactly when v exceeds the double). Host only.
template <class T>
T nms_threshold(double threshold) {
  T t = static_cast<T>(threshold);
  if (static_cast<double>(t) > threshold) t = std::nextafter(t, -INFINITY);
  return t;
}

}  // namespace attncamp::ops
