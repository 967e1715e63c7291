// CPU box ops and the tensor-level API of ops/boxes.h (CUDA tensors go to ops/cuda/boxes.cu).
// Plain loops, OpenMP over rows with static schedules (every element is computed alone, so
// results do not depend on the thread count); IoU and GIoU in double, the rest in the dtype.
#include "ops/boxes.h"

#include <cmath>
#include <vector>

#include "ops/dispatch.h"

namespace attncamp::ops {

const char* box_format_name(BoxFormat format) {
  switch (format) {
    case BoxFormat::kXyxy: return "xyxy";
    case BoxFormat::kXywh: return "xywh";
    case BoxFormat::kCxcywh: return "cxcywh";
  }
  return "unknown";
}

void check_box_tensor(const char* op, const char* what, const Tensor& t, bool cuda) {
  check_arg(op, what, t, box_dtypes(cuda));
  ATTNCAMP_CHECK(t.dim() == 2 && t.size(1) == 4, op, ": ", what, " must be [N,4]; got ", shape_str(t.shape()));
}

namespace cpu {
namespace {

double dmin(double a, double b) { return b < a ? b : a; }
double dmax(double a, double b) { return a < b ? b : a; }

}  // namespace

template <class T>
void box_iou(const BoxesParams<T>& a, const BoxesParams<T>& b, bool generalized, T* out) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < a.n; ++i) {
    const T* p = a.boxes + 4 * i;
    const double ax1 = p[0], ay1 = p[1], ax2 = p[2], ay2 = p[3];
    const double area_a = (ax2 - ax1) * (ay2 - ay1);
    for (int64_t j = 0; j < b.n; ++j) {
      const T* q = b.boxes + 4 * j;
      const double bx1 = q[0], by1 = q[1], bx2 = q[2], by2 = q[3];
      const double area_b = (bx2 - bx1) * (by2 - by1);
      double iw = dmin(ax2, bx2) - dmax(ax1, bx1), ih = dmin(ay2, by2) - dmax(ay1, by1);
      iw = iw < 0 ? 0 : iw;
      ih = ih < 0 ? 0 : ih;
      const double inter = iw * ih;
      const double uni = area_a + area_b - inter;
      double v = uni <= 0 ? 0.0 : inter / uni;
      if (generalized) {
        double cw = dmax(ax2, bx2) - dmin(ax1, bx1), ch = dmax(ay2, by2) - dmin(ay1, by1);
        cw = cw < 0 ? 0 : cw;
        ch = ch < 0 ? 0 : ch;
        const double c = cw * ch;
        if (!(c <= 0)) v -= (c - uni) / c;
      }
      out[i * b.n + j] = static_cast<T>(v);
    }
  }
}

template <class T>
void box_convert(const BoxesParams<T>& in, BoxFormat from, BoxFormat to, T* out) {
  const T half = static_cast<T>(0.5);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < in.n; ++i) {
    const T* p = in.boxes + 4 * i;
    T v[4] = {p[0], p[1], p[2], p[3]};
    if (from != to && from == BoxFormat::kXywh) {  // to xyxy
      v[2] = v[0] + v[2];
      v[3] = v[1] + v[3];
    } else if (from != to && from == BoxFormat::kCxcywh) {
      const T cx = v[0], cy = v[1], w = v[2], h = v[3];
      v[0] = cx - half * w;
      v[1] = cy - half * h;
      v[2] = cx + half * w;
      v[3] = cy + half * h;
    }
    if (from != to && to == BoxFormat::kXywh) {  // from xyxy
      v[2] = v[2] - v[0];
      v[3] = v[3] - v[1];
    } else if (from != to && to == BoxFormat::kCxcywh) {
      const T x1 = v[0], y1 = v[1], x2 = v[2], y2 = v[3];
      v[0] = (x1 + x2) / 2;
      v[1] = (y1 + y2) / 2;
      v[2] = x2 - x1;
      v[3] = y2 - y1;
    }
    T* o = out + 4 * i;
    for (int k = 0; k < 4; ++k) o[k] = v[k];
  }
}

template <class T>
void clip_boxes_to_image(const BoxesParams<T>& in, T height, T width, T* out) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < 4 * in.n; ++i) {
    const T hi = i % 2 == 0 ? width : height;
    const T v = in.boxes[i];
    out[i] = v < 0 ? T(0) : (v > hi ? hi : v);
  }
}

template <class T>
int64_t small_box_flags(const BoxesParams<T>& in, T min_size, uint8_t* keep) {
  int64_t kept = 0;
#pragma omp parallel for schedule(static) reduction(+ : kept)
  for (int64_t i = 0; i < in.n; ++i) {
    const T* p = in.boxes + 4 * i;
    const T w = p[2] - p[0], h = p[3] - p[1];
    keep[i] = w >= min_size && h >= min_size;
    kept += keep[i];
  }
  return kept;
}

template <class T>
int64_t first_bad_box(const BoxesParams<T>& in) {
  for (int64_t i = 0; i < in.n; ++i) {
    const T* p = in.boxes + 4 * i;
    const bool finite = std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]) && std::isfinite(p[3]);
    if (!finite || p[2] < p[0] || p[3] < p[1]) return i;
  }
  return in.n;
}

#define ATTNCAMP_BOXES_INSTANTIATE(T)                                               \
  template void box_iou<T>(const BoxesParams<T>&, const BoxesParams<T>&, bool, T*); \
  template void box_convert<T>(const BoxesParams<T>&, BoxFormat, BoxFormat, T*);    \
  template void clip_boxes_to_image<T>(const BoxesParams<T>&, T, T, T*);            \
  template int64_t small_box_flags<T>(const BoxesParams<T>&, T, uint8_t*);          \
  template int64_t first_bad_box<T>(const BoxesParams<T>&);
ATTNCAMP_BOXES_INSTANTIATE(float)
ATTNCAMP_BOXES_INSTANTIATE(double)
#undef ATTNCAMP_BOXES_INSTANTIATE

}  // namespace cpu

namespace {

template <class T>
cpu::BoxesParams<T> boxes_of(const Tensor& t) {
  return {t.size(0), t.data<T>()};
}

// box_iou or generalized_box_iou.
void pairwise(const char* op, const Tensor& a, const Tensor& b, bool generalized, Tensor& out) {
  const bool cuda = on_cuda(op, {&a, &b, &out});
  check_box_tensor(op, "a", a, cuda);
  check_box_tensor(op, "b", b, cuda);
  check_dtype(op, "b", b, a.dtype(), "a's dtype");
  check_exact(op, generalized ? "giou" : "iou", out, {a.size(0), b.size(0)}, a.dtype());
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::BoxIouArgs args;
    args.n = a.size(0);
    args.m = b.size(0);
    args.a = a.data<float>();
    args.b = b.data<float>();
    args.out = out.data<float>();
    args.generalized = generalized;
    args.device = a.device().index;
    cuda::box_iou(args);
#endif
    return;
  }
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::box_iou(boxes_of<T>(a), boxes_of<T>(b), generalized, out.data<T>());
  });
}

// Formats a box for messages: "(x1, y1, x2, y2)".
std::string box_str(const double (&v)[4]) {
  return ::attncamp::detail::str_cat("(", v[0], ", ", v[1], ", ", v[2], ", ", v[3], ")");
}

}  // namespace

void box_iou(const Tensor& a, const Tensor& b, Tensor& iou) { pairwise("box_iou", a, b, false, iou); }

void generalized_box_iou(const Tensor& a, const Tensor& b, Tensor& giou) {
  pairwise("generalized_box_iou", a, b, true, giou);
}

void box_convert(const Tensor& boxes, BoxFormat from, BoxFormat to, Tensor& out) {
  const char* op = "box_convert";
  const bool cuda = on_cuda(op, {&boxes, &out});
  check_box_tensor(op, "boxes", boxes, cuda);
  check_like(op, "out", out, boxes);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::BoxConvertArgs a;
    a.n = boxes.size(0);
    a.in = boxes.data<float>();
    a.out = out.data<float>();
    a.from = from;
    a.to = to;
    a.device = boxes.device().index;
    cuda::box_convert(a);
#endif
    return;
  }
  dispatch_float(boxes.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::box_convert(boxes_of<T>(boxes), from, to, out.data<T>());
  });
}

void clip_boxes_to_image(const Tensor& boxes, int64_t height, int64_t width, Tensor& out) {
  const char* op = "clip_boxes_to_image";
  const bool cuda = on_cuda(op, {&boxes, &out});
  check_box_tensor(op, "boxes", boxes, cuda);
  check_like(op, "out", out, boxes);
  ATTNCAMP_CHECK(height >= 0 && width >= 0, op, ": height and width must be >= 0; got ", height, " x ", width);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::ClipBoxesArgs a;
    a.n = boxes.size(0);
    a.in = boxes.data<float>();
    a.out = out.data<float>();
    a.height = static_cast<float>(height);
    a.width = static_cast<float>(width);
    a.device = boxes.device().index;
    cuda::clip_boxes_to_image(a);
#endif
    return;
  }
  dispatch_float(boxes.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::clip_boxes_to_image(boxes_of<T>(boxes), static_cast<T>(height), static_cast<T>(width), out.data<T>());
  });
}

Tensor remove_small_boxes(const Tensor& boxes, double min_size) {
  const char* op = "remove_small_boxes";
  const bool cuda = on_cuda(op, {&boxes});
  check_box_tensor(op, "boxes", boxes, cuda);
  ATTNCAMP_CHECK(!std::isnan(min_size), op, ": min_size must be a number; got ", min_size);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::SmallBoxesArgs a;
    a.n = boxes.size(0);
    a.boxes = boxes.data<float>();
    a.min_size = static_cast<float>(min_size);
    a.device = boxes.device().index;
    return cuda::remove_small_boxes(a);
#endif
  }
  const int64_t n = boxes.size(0);
  std::vector<uint8_t> flags(static_cast<size_t>(n));
  const int64_t kept = dispatch_float(boxes.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    return cpu::small_box_flags(boxes_of<T>(boxes), static_cast<T>(min_size), flags.data());
  });
  Tensor keep = Tensor::empty({kept}, DType::kI64);
  int64_t* k = keep.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (flags[static_cast<size_t>(i)] != 0) *k++ = i;
  }
  return keep;
}

void check_boxes(const Tensor& boxes, const char* role) {
  const char* op = "check_boxes";
  const bool cuda = on_cuda(op, {&boxes});
  check_box_tensor(op, role, boxes, cuda);
  const int64_t n = boxes.size(0);
  int64_t bad = n;
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::CheckBoxesArgs a;
    a.n = n;
    a.boxes = boxes.data<float>();
    a.device = boxes.device().index;
    bad = cuda::first_bad_box(a);
#endif
  } else {
    bad =
        dispatch_float(boxes.dtype(), op, [&](auto tag) { return cpu::first_bad_box(boxes_of<decltype(tag)>(boxes)); });
  }
  if (bad == n) return;
  const Tensor row = boxes.slice(bad, bad + 1).to(Device::cpu());
  double v[4];
  for (int k = 0; k < 4; ++k) {
    v[k] = row.dtype() == DType::kF64 ? row.data<double>()[k] : static_cast<double>(row.data<float>()[k]);
  }
  const bool finite = std::isfinite(v[0]) && std::isfinite(v[1]) && std::isfinite(v[2]) && std::isfinite(v[3]);
  const char* why = !finite ? "a non-finite coordinate" : v[2] < v[0] ? "x2 < x1" : "y2 < y1";
  ATTNCAMP_THROW(op, ": ", role, " box ", bad, " of ", n, " is ", box_str(v), ", which has ", why,
                 "; boxes must be xyxy with finite coordinates, x1 <= x2 and y1 <= y2");
}

}  // namespace attncamp::ops
