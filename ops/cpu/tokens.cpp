// CPU token plumbing for the ViT: patch extraction (OpenMP over images and patch rows) and
// the copy/add/select ops on [B,S,D] sequences. Reductions over the batch (the gradients of
// the class token and position embeddings) sum over b in order, so they are deterministic.
// CUDA tensors go to ops/cuda/tokens.cu.
#include "ops/tokens.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
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

// A [B,S,D] activation sequence (f32 or f64 on the CPU; f32, bf16 or f16 on CUDA).
void check_seq(const char* op, const char* what, const Tensor& t, bool cuda) {
  check_arg(op, what, t, activation_dtypes(cuda));
  check_dim(op, what, t, 3, "[B,S,D]");
}

void check_index(const char* op, int64_t index, int64_t s) {
  ATTNCAMP_CHECK(index >= 0 && index < s, op, ": token index must be in [0, ", s, ") for ", s, " tokens; got ", index);
}

// Checks the patch geometry of images [B,H,W,C] and the normalisation (one value or one per
// channel), and returns the shape of patchify's output.
Shape patchify_shape(const Tensor& images, int patch, const std::vector<double>& mean, const std::vector<double>& std,
                     const char* op) {
  check_dim(op, "images", images, 4, "[B,H,W,C]");
  ATTNCAMP_CHECK(patch > 0, op, ": patch size must be positive; got ", patch);
  const int64_t b = images.size(0), h = images.size(1), w = images.size(2), c = images.size(3);
  for (const auto* v : {&mean, &std}) {
    ATTNCAMP_CHECK(v->size() == 1 || static_cast<int64_t>(v->size()) == c, op, ": ", v == &mean ? "mean" : "std",
                   " has ", v->size(), " values for images of ", c, " channels (give 1 or ", c, ")");
  }
  for (double s : std) ATTNCAMP_CHECK(s > 0, op, ": std must be positive; got ", s);
  ATTNCAMP_CHECK(h % patch == 0 && w % patch == 0, op, ": image size ", h, "x", w, " must be divisible by patch ",
                 patch);
  return {b, (h / patch) * (w / patch), static_cast<int64_t>(patch) * patch * c};
}

#ifdef ATTNCAMP_WITH_CUDA
void patchify_cuda(const Tensor& images, int patch, const std::vector<double>& mean, const std::vector<double>& std,
                   Tensor& out) {
  ATTNCAMP_CHECK(images.size(3) <= kMaxPatchifyChannels, "patchify: CUDA normalises at most ", kMaxPatchifyChannels,
                 " channels; got images of ", images.size(3));
  cuda::PatchifyArgs a;
  a.images = images.raw_data();
  a.image_dtype = images.dtype();
  a.out = out.raw_data();
  a.out_dtype = out.dtype();
  a.batch = images.size(0);
  a.height = images.size(1);
  a.width = images.size(2);
  a.channels = images.size(3);
  a.patch = patch;
  const double in_scale = images.dtype() == DType::kU8 ? 1.0 / 255.0 : 1.0;
  for (int64_t k = 0; k < a.channels; ++k) {
    const double m = mean[mean.size() == 1 ? 0 : k], s = std[std.size() == 1 ? 0 : k];
    a.scale[k] = static_cast<float>(in_scale / s);
    a.shift[k] = static_cast<float>(m / s);
  }
  cuda::patchify(a, images.device().index);
}
#endif

}  // namespace

void patchify(const Tensor& images, int patch, double mean, double std, Tensor& out) {
  patchify(images, patch, std::vector<double>{mean}, std::vector<double>{std}, out);
}

void patchify(const Tensor& images, int patch, const std::vector<double>& mean, const std::vector<double>& std,
              Tensor& out) {
  const char* op = "patchify";
  const bool cuda = on_cuda(op, {&images, &out});
  const DTypeSet image_dtypes =
      cuda ? DTypeSet{DType::kU8, DType::kF32} : DTypeSet{DType::kU8, DType::kF32, DType::kF64};
  check_arg(op, "images", images, image_dtypes);
  const Shape shape = patchify_shape(images, patch, mean, std, op);
  // On the CPU, f64 images give f64 patches and u8 or f32 images f32 ones.
  const DType out_dtype = images.dtype() == DType::kF64 ? DType::kF64 : DType::kF32;
  check_activation(op, "out", out, shape, out_dtype, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    patchify_cuda(images, patch, mean, std, out);
#endif
    return;
  }
  dispatch_dtype<DType::kU8, DType::kF32, DType::kF64>(images.dtype(), op, [&](auto tag) {
    using In = decltype(tag);
    using Out = std::conditional_t<std::is_same_v<In, double>, double, float>;
    cpu::PatchifyParams<In, Out> p;
    p.images = images.data<In>();
    p.out = out.data<Out>();
    p.batch = images.size(0);
    p.height = images.size(1);
    p.width = images.size(2);
    p.channels = images.size(3);
    p.patch = patch;
    p.in_scale = std::is_same_v<In, uint8_t> ? 1.0 / 255.0 : 1.0;
    // One value per channel.
    const auto c = static_cast<size_t>(images.size(3));
    const std::vector<double> m = mean.size() == 1 ? std::vector<double>(c, mean[0]) : mean;
    const std::vector<double> s = std.size() == 1 ? std::vector<double>(c, std[0]) : std;
    p.mean = m.data();
    p.std = s.data();
    cpu::patchify(p);
  });
}

void prepend_token_forward(const Tensor& x, const Tensor& tok, Tensor& y) {
  const char* op = "prepend_token_forward";
  const bool cuda = on_cuda(op, {&x, &tok, &y});
  check_seq(op, "x", x, cuda);
  const int64_t b = x.size(0), s = x.size(1), d = x.size(2);
  check_param(op, "tok", tok, {d}, x.dtype(), cuda);
  check_activation(op, "y", y, {b, s + 1, d}, x.dtype(), cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::prepend_token_forward(x.raw_data(), x.dtype(), tok.data<float>(), y.raw_data(), y.dtype(), b, s, d,
                                x.device().index);
#endif
    return;
  }
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::prepend_forward(x.data<T>(), tok.data<T>(), y.data<T>(), b, s, d);
  });
}

void prepend_token_backward(const Tensor& dy, Tensor& dx, Tensor& dtok) {
  const char* op = "prepend_token_backward";
  const bool cuda = on_cuda(op, {&dy, &dx, &dtok});
  check_seq(op, "dy", dy, cuda);
  const int64_t b = dy.size(0), s = dy.size(1) - 1, d = dy.size(2);
  ATTNCAMP_CHECK(s >= 0, op, ": dy must have at least one token; got ", shape_str(dy.shape()));
  check_activation(op, "dx", dx, {b, s, d}, dy.dtype(), cuda);
  check_param(op, "dtok", dtok, {d}, dy.dtype(), cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::prepend_token_backward(dy.raw_data(), dy.dtype(), dx.raw_data(), dx.dtype(), dtok.data<float>(), b, s, d,
                                 dy.device().index);
#endif
    return;
  }
  dispatch_float(dy.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::prepend_backward(dy.data<T>(), dx.data<T>(), dtok.data<T>(), b, s, d);
  });
}

void add_position_forward(Tensor& x, const Tensor& pos) {
  const char* op = "add_position_forward";
  const bool cuda = on_cuda(op, {&x, &pos});
  check_seq(op, "x", x, cuda);
  check_param(op, "pos", pos, {x.size(1), x.size(2)}, x.dtype(), cuda);
  const int64_t b = x.size(0), sd = x.size(1) * x.size(2);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::add_position_forward(x.raw_data(), x.dtype(), pos.data<float>(), b, sd, x.device().index);
#endif
    return;
  }
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::position_forward(x.data<T>(), pos.data<T>(), b, sd);
  });
}

void add_position_backward(const Tensor& dy, Tensor& dpos) {
  const char* op = "add_position_backward";
  const bool cuda = on_cuda(op, {&dy, &dpos});
  check_seq(op, "dy", dy, cuda);
  check_param(op, "dpos", dpos, {dy.size(1), dy.size(2)}, dy.dtype(), cuda);
  const int64_t b = dy.size(0), sd = dy.size(1) * dy.size(2);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::add_position_backward(dy.raw_data(), dy.dtype(), dpos.data<float>(), b, sd, dy.device().index);
#endif
    return;
  }
  dispatch_float(dy.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::position_backward(dy.data<T>(), dpos.data<T>(), b, sd);
  });
}

void select_token_forward(const Tensor& x, int64_t index, Tensor& y) {
  const char* op = "select_token_forward";
  const bool cuda = on_cuda(op, {&x, &y});
  check_seq(op, "x", x, cuda);
  const int64_t b = x.size(0), s = x.size(1), d = x.size(2);
  check_index(op, index, s);
  check_activation(op, "y", y, {b, d}, x.dtype(), cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::select_token_forward(x.raw_data(), x.dtype(), y.raw_data(), y.dtype(), b, s, d, index, x.device().index);
#endif
    return;
  }
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::select_forward(x.data<T>(), y.data<T>(), b, s, d, index);
  });
}

void select_token_backward(const Tensor& dy, int64_t index, Tensor& dx) {
  const char* op = "select_token_backward";
  const bool cuda = on_cuda(op, {&dy, &dx});
  check_seq(op, "dx", dx, cuda);
  const int64_t b = dx.size(0), s = dx.size(1), d = dx.size(2);
  check_index(op, index, s);
  check_activation(op, "dy", dy, {b, d}, dx.dtype(), cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::select_token_backward(dy.raw_data(), dy.dtype(), dx.raw_data(), dx.dtype(), b, s, d, index,
                                dx.device().index);
#endif
    return;
  }
  dispatch_float(dx.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::select_backward(dy.data<T>(), dx.data<T>(), b, s, d, index);
  });
}

}  // namespace attncamp::ops
