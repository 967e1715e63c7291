// CPU token plumbing for the ViT: patch extraction (OpenMP over images and patch rows) and
// the copy/add/select ops on [B,S,D] sequences. Reductions over the batch (the gradients of
// the class token and position embeddings) sum over b in order, so they are deterministic.
// CUDA tensors go to ops/cuda/tokens.cu.
#include "ops/tokens.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/dispatch.h"

namespace attncamp::ops {
namespace cpu {

template <class In, class Out>
void patchify(const PatchifyParams<In, Out>& p) {
  const int64_t gh = p.height / p.patch, gw = p.width / p.patch;
  const int64_t row_len = p.patch * p.channels;  // one patch row: px, c
  const int64_t patch_len = p.patch * row_len;
  const int64_t c = p.channels;
  std::vector<Out> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
  for (int64_t k = 0; k < c; ++k) {
    scale[k] = static_cast<Out>(p.in_scale / p.std[k]);
    shift[k] = static_cast<Out>(p.mean[k] / p.std[k]);
  }
  const Out* sc = scale.data();
  const Out* sh = shift.data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t py_grid = 0; py_grid < gh; ++py_grid) {
      for (int64_t px_grid = 0; px_grid < gw; ++px_grid) {
        Out* dst = p.out + ((b * gh + py_grid) * gw + px_grid) * patch_len;
        for (int64_t py = 0; py < p.patch; ++py) {
          const In* src =
              p.images + ((b * p.height + py_grid * p.patch + py) * p.width + px_grid * p.patch) * p.channels;
          Out* d = dst + py * row_len;
          if (c == 1) {
#pragma omp simd
            for (int64_t j = 0; j < row_len; ++j) d[j] = static_cast<Out>(src[j]) * sc[0] - sh[0];
          } else {
            for (int64_t j = 0; j < row_len; j += c) {
              for (int64_t k = 0; k < c; ++k) d[j + k] = static_cast<Out>(src[j + k]) * sc[k] - sh[k];
            }
          }
        }
      }
    }
  }
}

template void patchify<uint8_t, float>(const PatchifyParams<uint8_t, float>&);
template void patchify<uint8_t, double>(const PatchifyParams<uint8_t, double>&);
template void patchify<float, float>(const PatchifyParams<float, float>&);
template void patchify<double, double>(const PatchifyParams<double, double>&);

namespace {

template <class T>
void prepend_forward(const T* x, const T* tok, T* y, int64_t b, int64_t s, int64_t d) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < b; ++i) {
    T* yb = y + i * (s + 1) * d;
    std::memcpy(yb, tok, static_cast<size_t>(d) * sizeof(T));
    std::memcpy(yb + d, x + i * s * d, static_cast<size_t>(s * d) * sizeof(T));
  }
}

template <class T>
void prepend_backward(const T* dy, T* dx, T* dtok, int64_t b, int64_t s, int64_t d) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < b; ++i) {
    std::memcpy(dx + i * s * d, dy + (i * (s + 1) + 1) * d, static_cast<size_t>(s * d) * sizeof(T));
  }
  for (int64_t i = 0; i < b; ++i) {
    const T* src = dy + i * (s + 1) * d;
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) dtok[j] += src[j];
  }
}

template <class T>
void position_forward(T* x, const T* pos, int64_t b, int64_t sd) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t j = 0; j < sd; ++j) x[i * sd + j] += pos[j];
  }
}

template <class T>
void position_backward(const T* dy, T* dpos, int64_t b, int64_t sd) {
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (sd + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t lo = blk * kBlock, hi = std::min(sd, lo + kBlock);
    for (int64_t i = 0; i < b; ++i) {
      const T* src = dy + i * sd;
#pragma omp simd
      for (int64_t j = lo; j < hi; ++j) dpos[j] += src[j];
    }
  }
}

template <class T>
void select_forward(const T* x, T* y, int64_t b, int64_t s, int64_t d, int64_t index) {
  for (int64_t i = 0; i < b; ++i) {
    std::memcpy(y + i * d, x + (i * s + index) * d, static_cast<size_t>(d) * sizeof(T));
  }
}

template <class T>
void select_backward(const T* dy, T* dx, int64_t b, int64_t s, int64_t d, int64_t index) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < b; ++i) {
    T* dxb = dx + i * s * d;
    std::memset(static_cast<void*>(dxb), 0, static_cast<size_t>(s * d) * sizeof(T));
    std::memcpy(dxb + index * d, dy + i * d, static_cast<size_t>(d) * sizeof(T));
  }
}

}  // namespace
}  // namespace cpu

namespace {

void check_cpu(const Tensor& t, const char* op, const char* what) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  if (!t.device().is_cpu()) ATTNCAMP_THROW("op ", op, " is not implemented on ", t.device().str(), " yet");
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
}

// Checks `t` is a contiguous CPU tensor of exactly `shape` and `dtype`.
void check_arg(const Tensor& t, const Shape& shape, DType dtype, const char* op, const char* what) {
  check_cpu(t, op, what);
  ATTNCAMP_CHECK(t.shape() == shape, op, ": ", what, " has shape ", shape_str(t.shape()), ", expected ",
                 shape_str(shape));
  ATTNCAMP_CHECK(t.dtype() == dtype, op, ": ", what, " is ", dtype_name(t.dtype()), ", expected ", dtype_name(dtype));
}

// Checks a [B,S,D] f32/f64 sequence tensor.
void check_seq(const Tensor& t, const char* op, const char* what) {
  check_cpu(t, op, what);
  ATTNCAMP_CHECK(t.dim() == 3, op, ": ", what, " must be [B,S,D], got ", shape_str(t.shape()));
  ATTNCAMP_CHECK(t.dtype() == DType::kF32 || t.dtype() == DType::kF64, op, ": ", what, " has dtype ",
                 dtype_name(t.dtype()), "; expected f32 or f64");
}

// Checks the patch geometry of images [B,H,W,C] and the normalisation, and returns the shape of
// patchify's output.
Shape patchify_shape(const Tensor& images, int patch, const std::vector<double>& mean, const std::vector<double>& std,
                     const char* op) {
  ATTNCAMP_CHECK(images.dim() == 4, op, ": images must be [B,H,W,C], got ", shape_str(images.shape()));
  ATTNCAMP_CHECK(patch > 0, op, ": patch size must be positive, got ", patch);
  const int64_t b = images.size(0), h = images.size(1), w = images.size(2), c = images.size(3);
  for (const auto* v : {&mean, &std}) {
    ATTNCAMP_CHECK(v->size() == 1 || static_cast<int64_t>(v->size()) == c, op, ": ", v == &mean ? "mean" : "std",
                   " has ", v->size(), " values for images of ", c, " channels (give 1 or ", c, ")");
  }
  for (double s : std) ATTNCAMP_CHECK(s > 0, op, ": std must be positive, got ", s);
  ATTNCAMP_CHECK(h % patch == 0 && w % patch == 0, op, ": image size ", h, "x", w, " is not divisible by patch ",
                 patch);
  return {b, (h / patch) * (w / patch), static_cast<int64_t>(patch) * patch * c};
}

#ifdef ATTNCAMP_WITH_CUDA
// A CUDA activation: defined, contiguous, f32/bf16/f16, and of `shape` (or [B,S,D] when null).
void check_cuda_act(const Tensor& t, const Shape* shape, const char* op, const char* what) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  check_cuda_activation(op, what, t);
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
  if (shape) {
    ATTNCAMP_CHECK(t.shape() == *shape, op, ": ", what, " has shape ", shape_str(t.shape()), ", expected ",
                   shape_str(*shape));
  } else {
    ATTNCAMP_CHECK(t.dim() == 3, op, ": ", what, " must be [B,S,D], got ", shape_str(t.shape()));
  }
}

// A CUDA parameter or parameter gradient: contiguous f32 of exactly `shape`.
void check_cuda_param(const Tensor& t, const Shape& shape, const char* op, const char* what) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  ATTNCAMP_CHECK(t.shape() == shape, op, ": ", what, " has shape ", shape_str(t.shape()), ", expected ",
                 shape_str(shape));
  ATTNCAMP_CHECK(t.dtype() == DType::kF32, op, ": ", what, " is ", dtype_name(t.dtype()),
                 "; on CUDA parameters are f32");
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
}

void patchify_cuda(const Tensor& images, int patch, const std::vector<double>& mean, const std::vector<double>& std,
                   Tensor& out) {
  const char* op = "patchify";
  ATTNCAMP_CHECK(images.defined(), op, ": images is undefined");
  ATTNCAMP_CHECK(images.is_contiguous(), op, ": images must be contiguous");
  const DType it = images.dtype();
  ATTNCAMP_CHECK(it == DType::kU8 || it == DType::kF32, op, ": images have dtype ", dtype_name(it),
                 "; on CUDA expected u8 or f32");
  const Shape shape = patchify_shape(images, patch, mean, std, op);
  check_cuda_act(out, &shape, op, "out");
  ATTNCAMP_CHECK(images.size(3) <= kMaxPatchifyChannels, op, ": CUDA normalises at most ", kMaxPatchifyChannels,
                 " channels, images have ", images.size(3));
  cuda::PatchifyArgs a;
  a.images = images.raw_data();
  a.image_dtype = it;
  a.out = out.raw_data();
  a.out_dtype = out.dtype();
  a.batch = images.size(0);
  a.height = images.size(1);
  a.width = images.size(2);
  a.channels = images.size(3);
  a.patch = patch;
  const double in_scale = it == DType::kU8 ? 1.0 / 255.0 : 1.0;
  for (int64_t k = 0; k < a.channels; ++k) {
    const double m = mean[mean.size() == 1 ? 0 : k], s = std[std.size() == 1 ? 0 : k];
    a.scale[k] = static_cast<float>(in_scale / s);
    a.shift[k] = static_cast<float>(m / s);
  }
  cuda::patchify(a, images.device().index);
}
#endif

template <class In, class Out>
void run_patchify(const Tensor& images, int patch, const std::vector<double>& mean, const std::vector<double>& std,
                  Tensor& out, double in_scale) {
  // One value per channel.
  const auto c = static_cast<size_t>(images.size(3));
  const std::vector<double> m = mean.size() == 1 ? std::vector<double>(c, mean[0]) : mean;
  const std::vector<double> s = std.size() == 1 ? std::vector<double>(c, std[0]) : std;
  cpu::PatchifyParams<In, Out> p;
  p.images = images.data<In>();
  p.out = out.data<Out>();
  p.batch = images.size(0);
  p.height = images.size(1);
  p.width = images.size(2);
  p.channels = images.size(3);
  p.patch = patch;
  p.in_scale = in_scale;
  p.mean = m.data();
  p.std = s.data();
  cpu::patchify(p);
}

}  // namespace

void patchify(const Tensor& images, int patch, double mean, double std, Tensor& out) {
  patchify(images, patch, std::vector<double>{mean}, std::vector<double>{std}, out);
}

void patchify(const Tensor& images, int patch, const std::vector<double>& mean, const std::vector<double>& std,
              Tensor& out) {
  const char* op = "patchify";
  if (on_cuda(op, {&images, &out})) {
#ifdef ATTNCAMP_WITH_CUDA
    patchify_cuda(images, patch, mean, std, out);
#endif
    return;
  }
  check_cpu(images, op, "images");
  const DType it = images.dtype();
  ATTNCAMP_CHECK(it == DType::kU8 || it == DType::kF32 || it == DType::kF64, op, ": images have dtype ", dtype_name(it),
                 "; expected u8, f32 or f64");
  const Shape shape = patchify_shape(images, patch, mean, std, op);
  const DType ot = it == DType::kF64 ? DType::kF64 : DType::kF32;
  check_arg(out, shape, ot, op, "out");
  if (it == DType::kU8) {
    run_patchify<uint8_t, float>(images, patch, mean, std, out, 1.0 / 255.0);
  } else if (it == DType::kF32) {
    run_patchify<float, float>(images, patch, mean, std, out, 1.0);
  } else {
    run_patchify<double, double>(images, patch, mean, std, out, 1.0);
  }
}

void prepend_token_forward(const Tensor& x, const Tensor& tok, Tensor& y) {
  const char* op = "prepend_token_forward";
  if (on_cuda(op, {&x, &tok, &y})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_act(x, nullptr, op, "x");
    const int64_t b = x.size(0), s = x.size(1), d = x.size(2);
    check_cuda_param(tok, {d}, op, "tok");
    const Shape ys{b, s + 1, d};
    check_cuda_act(y, &ys, op, "y");
    cuda::prepend_token_forward(x.raw_data(), x.dtype(), tok.data<float>(), y.raw_data(), y.dtype(), b, s, d,
                                x.device().index);
#endif
    return;
  }
  check_seq(x, op, "x");
  const int64_t b = x.size(0), s = x.size(1), d = x.size(2);
  check_arg(tok, {d}, x.dtype(), op, "tok");
  check_arg(y, {b, s + 1, d}, x.dtype(), op, "y");
  if (x.dtype() == DType::kF32) {
    cpu::prepend_forward(x.data<float>(), tok.data<float>(), y.data<float>(), b, s, d);
  } else {
    cpu::prepend_forward(x.data<double>(), tok.data<double>(), y.data<double>(), b, s, d);
  }
}

void prepend_token_backward(const Tensor& dy, Tensor& dx, Tensor& dtok) {
  const char* op = "prepend_token_backward";
  if (on_cuda(op, {&dy, &dx, &dtok})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_act(dy, nullptr, op, "dy");
    const int64_t b = dy.size(0), s = dy.size(1) - 1, d = dy.size(2);
    ATTNCAMP_CHECK(s >= 0, op, ": dy must have at least one token, got ", shape_str(dy.shape()));
    const Shape xs{b, s, d};
    check_cuda_act(dx, &xs, op, "dx");
    check_cuda_param(dtok, {d}, op, "dtok");
    cuda::prepend_token_backward(dy.raw_data(), dy.dtype(), dx.raw_data(), dx.dtype(), dtok.data<float>(), b, s, d,
                                 dy.device().index);
#endif
    return;
  }
  check_seq(dy, op, "dy");
  const int64_t b = dy.size(0), s = dy.size(1) - 1, d = dy.size(2);
  ATTNCAMP_CHECK(s >= 0, op, ": dy must have at least one token, got ", shape_str(dy.shape()));
  check_arg(dx, {b, s, d}, dy.dtype(), op, "dx");
  check_arg(dtok, {d}, dy.dtype(), op, "dtok");
  if (dy.dtype() == DType::kF32) {
    cpu::prepend_backward(dy.data<float>(), dx.data<float>(), dtok.data<float>(), b, s, d);
  } else {
    cpu::prepend_backward(dy.data<double>(), dx.data<double>(), dtok.data<double>(), b, s, d);
  }
}

void add_position_forward(Tensor& x, const Tensor& pos) {
  const char* op = "add_position_forward";
  if (on_cuda(op, {&x, &pos})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_act(x, nullptr, op, "x");
    check_cuda_param(pos, {x.size(1), x.size(2)}, op, "pos");
    cuda::add_position_forward(x.raw_data(), x.dtype(), pos.data<float>(), x.size(0), x.size(1) * x.size(2),
                               x.device().index);
#endif
    return;
  }
  check_seq(x, op, "x");
  check_arg(pos, {x.size(1), x.size(2)}, x.dtype(), op, "pos");
  const int64_t b = x.size(0), sd = x.size(1) * x.size(2);
  if (x.dtype() == DType::kF32) {
    cpu::position_forward(x.data<float>(), pos.data<float>(), b, sd);
  } else {
    cpu::position_forward(x.data<double>(), pos.data<double>(), b, sd);
  }
}

void add_position_backward(const Tensor& dy, Tensor& dpos) {
  const char* op = "add_position_backward";
  if (on_cuda(op, {&dy, &dpos})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_act(dy, nullptr, op, "dy");
    check_cuda_param(dpos, {dy.size(1), dy.size(2)}, op, "dpos");
    cuda::add_position_backward(dy.raw_data(), dy.dtype(), dpos.data<float>(), dy.size(0), dy.size(1) * dy.size(2),
                                dy.device().index);
#endif
    return;
  }
  check_seq(dy, op, "dy");
  check_arg(dpos, {dy.size(1), dy.size(2)}, dy.dtype(), op, "dpos");
  const int64_t b = dy.size(0), sd = dy.size(1) * dy.size(2);
  if (dy.dtype() == DType::kF32) {
    cpu::position_backward(dy.data<float>(), dpos.data<float>(), b, sd);
  } else {
    cpu::position_backward(dy.data<double>(), dpos.data<double>(), b, sd);
  }
}

void select_token_forward(const Tensor& x, int64_t index, Tensor& y) {
  const char* op = "select_token_forward";
  if (on_cuda(op, {&x, &y})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_act(x, nullptr, op, "x");
    const int64_t b = x.size(0), s = x.size(1), d = x.size(2);
    ATTNCAMP_CHECK(index >= 0 && index < s, op, ": token index ", index, " is out of range for ", s, " tokens");
    const Shape ys{b, d};
    check_cuda_act(y, &ys, op, "y");
    cuda::select_token_forward(x.raw_data(), x.dtype(), y.raw_data(), y.dtype(), b, s, d, index, x.device().index);
#endif
    return;
  }
  check_seq(x, op, "x");
  const int64_t b = x.size(0), s = x.size(1), d = x.size(2);
  ATTNCAMP_CHECK(index >= 0 && index < s, op, ": token index ", index, " is out of range for ", s, " tokens");
  check_arg(y, {b, d}, x.dtype(), op, "y");
  if (x.dtype() == DType::kF32) {
    cpu::select_forward(x.data<float>(), y.data<float>(), b, s, d, index);
  } else {
    cpu::select_forward(x.data<double>(), y.data<double>(), b, s, d, index);
  }
}

void select_token_backward(const Tensor& dy, int64_t index, Tensor& dx) {
  const char* op = "select_token_backward";
  if (on_cuda(op, {&dy, &dx})) {
#ifdef ATTNCAMP_WITH_CUDA
    check_cuda_act(dx, nullptr, op, "dx");
    const int64_t b = dx.size(0), s = dx.size(1), d = dx.size(2);
    ATTNCAMP_CHECK(index >= 0 && index < s, op, ": token index ", index, " is out of range for ", s, " tokens");
    const Shape ys{b, d};
    check_cuda_act(dy, &ys, op, "dy");
    cuda::select_token_backward(dy.raw_data(), dy.dtype(), dx.raw_data(), dx.dtype(), b, s, d, index,
                                dx.device().index);
#endif
    return;
  }
  check_seq(dx, op, "dx");
  const int64_t b = dx.size(0), s = dx.size(1), d = dx.size(2);
  ATTNCAMP_CHECK(index >= 0 && index < s, op, ": token index ", index, " is out of range for ", s, " tokens");
  check_arg(dy, {b, d}, dx.dtype(), op, "dy");
  if (dx.dtype() == DType::kF32) {
    cpu::select_backward(dy.data<float>(), dx.data<float>(), b, s, d, index);
  } else {
    cpu::select_backward(dy.data<double>(), dx.data<double>(), b, s, d, index);
  }
}

}  // namespace attncamp::ops
