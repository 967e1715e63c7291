// CPU box coding and the tensor-level API of ops/box_coding.h (CUDA tensors go to
// ops/cuda/box_coding.cu): one box per iteration (OpenMP, static schedule), in double, rounded
// once to the dtype.
#include "ops/box_coding.h"

#include <cmath>

#include "ops/boxes.h"
#include "ops/dispatch.h"

namespace attncamp::ops {
namespace cpu {

template <class T>
void box_encode(const BoxCodingParams<T>& p, const T* target, T* deltas) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const T* r = p.reference + 4 * i;
    const T* t = target + 4 * i;
    const double w = static_cast<double>(r[2]) - r[0], h = static_cast<double>(r[3]) - r[1];
    const double cx = r[0] + 0.5 * w, cy = r[1] + 0.5 * h;
    const double tw = static_cast<double>(t[2]) - t[0], th = static_cast<double>(t[3]) - t[1];
    const double tcx = t[0] + 0.5 * tw, tcy = t[1] + 0.5 * th;
    T* d = deltas + 4 * i;
    d[0] = static_cast<T>(p.wx * (tcx - cx) / w);
    d[1] = static_cast<T>(p.wy * (tcy - cy) / h);
    d[2] = static_cast<T>(p.ww * std::log(tw / w));
    d[3] = static_cast<T>(p.wh * std::log(th / h));
  }
}

template <class T>
void box_decode_forward(const BoxCodingParams<T>& p, const T* deltas, T* boxes) {
  const double clip = static_cast<T>(p.clip);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const T* r = p.reference + 4 * i;
    const double w = static_cast<double>(r[2]) - r[0], h = static_cast<double>(r[3]) - r[1];
    const double cx = r[0] + 0.5 * w, cy = r[1] + 0.5 * h;
    for (int64_t c = 0; c < p.k; ++c) {
      const T* d = deltas + (i * p.k + c) * 4;
      const double dw = std::fmin(d[2] / p.ww, clip), dh = std::fmin(d[3] / p.wh, clip);
      const double pcx = d[0] / p.wx * w + cx, pcy = d[1] / p.wy * h + cy;
      const double half_w = 0.5 * (std::exp(dw) * w), half_h = 0.5 * (std::exp(dh) * h);
      T* b = boxes + (i * p.k + c) * 4;
      b[0] = static_cast<T>(pcx - half_w);
      b[1] = static_cast<T>(pcy - half_h);
      b[2] = static_cast<T>(pcx + half_w);
      b[3] = static_cast<T>(pcy + half_h);
    }
  }
}

// x1 = pcx - pw / 2 and x2 = pcx + pw / 2 with pcx = dx / wx * w + cx and pw = exp(dw / ww) * w:
// d/ddx = (g1 + g2) w / wx and d/ddw = (g2 - g1) pw / (2 ww), the latter 0 where the clamp holds.
template <class T>
void box_decode_backward(const BoxCodingParams<T>& p, const T* dboxes, const T* deltas, T* ddeltas) {
  const double clip = static_cast<T>(p.clip);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const T* r = p.reference + 4 * i;
    const double w = static_cast<double>(r[2]) - r[0], h = static_cast<double>(r[3]) - r[1];
    for (int64_t c = 0; c < p.k; ++c) {
      const int64_t at = (i * p.k + c) * 4;
      const double g[4] = {dboxes[at], dboxes[at + 1], dboxes[at + 2], dboxes[at + 3]};
      const double dw = deltas[at + 2] / p.ww, dh = deltas[at + 3] / p.wh;
      T* out = ddeltas + at;
      out[0] = static_cast<T>((g[0] + g[2]) * w / p.wx);
      out[1] = static_cast<T>((g[1] + g[3]) * h / p.wy);
      out[2] = static_cast<T>(dw > clip ? 0.0 : (g[2] - g[0]) * 0.5 * std::exp(dw) * w / p.ww);
      out[3] = static_cast<T>(dh > clip ? 0.0 : (g[3] - g[1]) * 0.5 * std::exp(dh) * h / p.wh);
    }
  }
}

#define ATTNCAMP_BOX_CODING_INSTANTIATE(T)                                      \
  template void box_encode<T>(const BoxCodingParams<T>&, const T*, T*);         \
  template void box_decode_forward<T>(const BoxCodingParams<T>&, const T*, T*); \
  template void box_decode_backward<T>(const BoxCodingParams<T>&, const T*, const T*, T*);
ATTNCAMP_BOX_CODING_INSTANTIATE(float)
ATTNCAMP_BOX_CODING_INSTANTIATE(double)
#undef ATTNCAMP_BOX_CODING_INSTANTIATE

}  // namespace cpu

namespace {

void check_weights(const char* op, const BoxCoderWeights& w) {
  ATTNCAMP_CHECK(w.wx > 0 && w.wy > 0 && w.ww > 0 && w.wh > 0, op, ": weights must be > 0; got (", w.wx, ", ", w.wy,
                 ", ", w.ww, ", ", w.wh, ")");
}

// deltas [N,4K] with N reference rows: returns K.
int64_t check_deltas(const char* op, const char* what, const Tensor& t, const Tensor& reference, bool cuda) {
  check_arg(op, what, t, box_dtypes(cuda));
  check_dtype(op, what, t, reference.dtype(), "reference's dtype");
  ATTNCAMP_CHECK(t.dim() == 2 && t.size(0) == reference.size(0) && t.size(1) > 0 && t.size(1) % 4 == 0, op, ": ", what,
                 " must be [N,4K] with N = ", reference.size(0), " (reference's rows) and K >= 1; got ",
                 shape_str(t.shape()));
  return t.size(1) / 4;
}

template <class T>
cpu::BoxCodingParams<T> cpu_params(const Tensor& reference, int64_t k, const BoxCoderWeights& w, double clip) {
  cpu::BoxCodingParams<T> p;
  p.n = reference.size(0);
  p.k = k;
  p.reference = reference.data<T>();
  p.wx = w.wx;
  p.wy = w.wy;
  p.ww = w.ww;
  p.wh = w.wh;
  p.clip = clip;
  return p;
}

#ifdef ATTNCAMP_WITH_CUDA
cuda::BoxCodingArgs cuda_args(const Tensor& reference, int64_t k, const BoxCoderWeights& w, double clip) {
  cuda::BoxCodingArgs a;
  a.n = reference.size(0);
  a.k = k;
  a.reference = reference.data<float>();
  a.wx = static_cast<float>(w.wx);
  a.wy = static_cast<float>(w.wy);
  a.ww = static_cast<float>(w.ww);
  a.wh = static_cast<float>(w.wh);
  a.clip = static_cast<float>(clip);
  a.device = reference.device().index;
  return a;
}
#endif

}  // namespace

void box_encode(const Tensor& reference, const Tensor& target, const BoxCoderWeights& weights, Tensor& deltas) {
  const char* op = "box_encode";
  const bool cuda = on_cuda(op, {&reference, &target, &deltas});
  check_box_tensor(op, "reference", reference, cuda);
  check_like(op, "target", target, reference);
  check_like(op, "deltas", deltas, reference);
  check_weights(op, weights);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::box_encode(cuda_args(reference, 1, weights, kBoxDecodeClip), target.data<float>(), deltas.data<float>());
#endif
    return;
  }
  dispatch_float(reference.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::box_encode(cpu_params<T>(reference, 1, weights, kBoxDecodeClip), target.data<T>(), deltas.data<T>());
  });
}

void box_decode_forward(const Tensor& deltas, const Tensor& reference, const BoxCoderWeights& weights, double clip,
                        Tensor& boxes) {
  const char* op = "box_decode_forward";
  const bool cuda = on_cuda(op, {&deltas, &reference, &boxes});
  check_box_tensor(op, "reference", reference, cuda);
  const int64_t k = check_deltas(op, "deltas", deltas, reference, cuda);
  check_like(op, "boxes", boxes, deltas);
  ATTNCAMP_CHECK(boxes.raw_data() != deltas.raw_data() || deltas.numel() == 0, op,
                 ": boxes must not alias deltas; got the same memory");
  check_weights(op, weights);
  ATTNCAMP_CHECK(!std::isnan(clip), op, ": clip must be a number; got ", clip);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::box_decode_forward(cuda_args(reference, k, weights, clip), deltas.data<float>(), boxes.data<float>());
#endif
    return;
  }
  dispatch_float(reference.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::box_decode_forward(cpu_params<T>(reference, k, weights, clip), deltas.data<T>(), boxes.data<T>());
  });
}

void box_decode_backward(const Tensor& dboxes, const Tensor& deltas, const Tensor& reference,
                         const BoxCoderWeights& weights, double clip, Tensor& ddeltas) {
  const char* op = "box_decode_backward";
  const bool cuda = on_cuda(op, {&dboxes, &deltas, &reference, &ddeltas});
  check_box_tensor(op, "reference", reference, cuda);
  const int64_t k = check_deltas(op, "deltas", deltas, reference, cuda);
  check_like(op, "dboxes", dboxes, deltas);
  check_like(op, "ddeltas", ddeltas, deltas);
  check_weights(op, weights);
  ATTNCAMP_CHECK(!std::isnan(clip), op, ": clip must be a number; got ", clip);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::box_decode_backward(cuda_args(reference, k, weights, clip), dboxes.data<float>(), deltas.data<float>(),
                              ddeltas.data<float>());
#endif
    return;
  }
  dispatch_float(reference.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::box_decode_backward(cpu_params<T>(reference, k, weights, clip), dboxes.data<T>(), deltas.data<T>(),
                             ddeltas.data<T>());
  });
}

}  // namespace attncamp::ops
