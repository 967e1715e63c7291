// CPU anchors and the tensor-level API of ops/anchors.h (CUDA tensors go to ops/cuda/anchors.cu).
// The cell anchors are computed on the host in f32 for every device; the grid is a plain loop over
// the map's locations (OpenMP, static schedule).
#include "ops/anchors.h"

#include <cmath>

#include "ops/check.h"
#include "ops/dispatch.h"

namespace attncamp::ops {
namespace cpu {

template <class T>
void grid_anchors(const GridAnchorsParams& p, T* anchors) {
#pragma omp parallel for schedule(static)
  for (int64_t loc = 0; loc < p.fh * p.fw; ++loc) {
    const T sx = static_cast<T>((loc % p.fw) * p.stride_w), sy = static_cast<T>((loc / p.fw) * p.stride_h);
    for (int64_t a = 0; a < p.cells; ++a) {
      const float* c = p.cell + 4 * a;
      T* o = anchors + (loc * p.cells + a) * 4;
      o[0] = sx + static_cast<T>(c[0]);
      o[1] = sy + static_cast<T>(c[1]);
      o[2] = sx + static_cast<T>(c[2]);
      o[3] = sy + static_cast<T>(c[3]);
    }
  }
}

template void grid_anchors<float>(const GridAnchorsParams&, float*);
template void grid_anchors<double>(const GridAnchorsParams&, double*);

}  // namespace cpu

namespace {

void check_positive(const char* op, const char* what, const std::vector<double>& v) {
  ATTNCAMP_CHECK(!v.empty(), op, ": ", what, " must not be empty; got none");
  for (size_t i = 0; i < v.size(); ++i) {
    ATTNCAMP_CHECK(std::isfinite(v[i]) && v[i] > 0, op, ": ", what, "[", i, "] must be finite and > 0; got ", v[i]);
  }
}

Tensor make_cells(const char* op, const std::vector<double>& sizes, const std::vector<double>& aspect_ratios) {
  check_positive(op, "sizes", sizes);
  check_positive(op, "aspect_ratios", aspect_ratios);
  const int64_t s_n = static_cast<int64_t>(sizes.size()), r_n = static_cast<int64_t>(aspect_ratios.size());
  Tensor cells = Tensor::empty({r_n * s_n, 4}, DType::kF32);
  float* c = cells.data<float>();
  for (int64_t r = 0; r < r_n; ++r) {
    const float hr = std::sqrt(static_cast<float>(aspect_ratios[static_cast<size_t>(r)]));
    const float wr = 1.0f / hr;
    for (int64_t s = 0; s < s_n; ++s) {
      const float size = static_cast<float>(sizes[static_cast<size_t>(s)]);
      const float ws = wr * size, hs = hr * size;
      float* o = c + (r * s_n + s) * 4;
      o[0] = std::nearbyint(-ws / 2);
      o[1] = std::nearbyint(-hs / 2);
      o[2] = std::nearbyint(ws / 2);
      o[3] = std::nearbyint(hs / 2);
    }
  }
  return cells;
}

}  // namespace

Tensor cell_anchors(const std::vector<double>& sizes, const std::vector<double>& aspect_ratios) {
  return make_cells("cell_anchors", sizes, aspect_ratios);
}

int64_t anchor_stride(int64_t image_size, int64_t map_size) {
  ATTNCAMP_CHECK(map_size > 0 && image_size >= map_size, "anchor_stride: image_size and map_size must satisfy ",
                 "image_size >= map_size > 0; got image_size ", image_size, " and map_size ", map_size);
  return image_size / map_size;
}

void grid_anchors(const std::vector<double>& sizes, const std::vector<double>& aspect_ratios, int64_t fh, int64_t fw,
                  int64_t stride_h, int64_t stride_w, Tensor& anchors) {
  const char* op = "grid_anchors";
  const bool cuda = on_cuda(op, {&anchors});
  const Tensor cells = make_cells(op, sizes, aspect_ratios);
  const int64_t a_n = cells.size(0);
  ATTNCAMP_CHECK(fh >= 0 && fw >= 0, op, ": the map size must be >= 0; got ", fh, " x ", fw);
  ATTNCAMP_CHECK(stride_h > 0 && stride_w > 0, op, ": strides must be > 0; got ", stride_h, " x ", stride_w);
  check_arg(op, "anchors", anchors, cuda ? DTypeSet{DType::kF32} : kCpuFloat);
  check_shape(op, "anchors", anchors, {fh * fw * a_n, 4}, "fh * fw * A rows");
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    ATTNCAMP_CHECK(a_n <= kMaxCudaCellAnchors, op, ": at most ", kMaxCudaCellAnchors,
                   " anchors per location on CUDA (|sizes| * |aspect_ratios|); got ", a_n);
    cuda::GridAnchorsArgs a;
    a.fh = fh;
    a.fw = fw;
    a.stride_h = stride_h;
    a.stride_w = stride_w;
    a.cells = static_cast<int>(a_n);
    for (int64_t i = 0; i < a_n; ++i) {
      for (int k = 0; k < 4; ++k) a.cell[i][k] = cells.data<float>()[i * 4 + k];
    }
    a.anchors = anchors.data<float>();
    a.device = anchors.device().index;
    cuda::grid_anchors(a);
#endif
    return;
  }
  dispatch_float(anchors.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::GridAnchorsParams p;
    p.fh = fh;
    p.fw = fw;
    p.stride_h = stride_h;
    p.stride_w = stride_w;
    p.cells = a_n;
    p.cell = cells.data<float>();
    cpu::grid_anchors(p, anchors.data<T>());
  });
}

}  // namespace attncamp::ops
