// ViT token plumbing: cutting images into flattened patches, prepending a class token,
// adding position embeddings and selecting one token, each with its gradient. Layouts are
// row-major: images [B,H,W,C], token sequences [B,S,D].
//
// Dtypes: on the CPU the sequences, tokens and embeddings are all f32 or all f64. On CUDA the
// sequences (x, y, dy, dx) may each be f32, bf16 or f16 (computed in f32) and the parameters
// tok, pos and their gradients dtok, dpos are f32.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace attncamp::ops {

// images [B,H,W,C]: u8 (scaled by 1/255) or f32/f64 (taken as is). out [B, (H/p)*(W/p), p*p*C],
// f32 (f64 when images are f64): patches in row-major patch order, each flattened as (py, px, c),
// normalised per channel as (v - mean[c]) / std[c]; `mean` and `std` hold one value (for every
// channel) or C values (C <= kMaxPatchifyChannels on CUDA), std > 0. H and W must be divisible by
// `patch`. On CUDA: u8 or f32 images, out f32, bf16 or f16.
void patchify(const Tensor& images, int patch, const std::vector<double>& mean, const std::vector<double>& std,
              Tensor& out);
// The same with one mean and std for every channel.
void patchify(const Tensor& images, int patch, double mean, double std, Tensor& out);

// Channels the CUDA kernel normalises with their own mean and std.
constexpr int kMaxPatchifyChannels = 4;

// y[B,S+1,D]: y[b,0] = tok[D], y[b,1+s] = x[b,s].
void prepend_token_forward(const Tensor& x, const Tensor& tok, Tensor& y);
// dx[B,S,D] = dy[b,1+s] (overwritten); dtok[D] += sum_b dy[b,0] (accumulates).
void prepend_token_backward(const Tensor& dy, Tensor& dx, Tensor& dtok);

// x[B,S,D] += pos[S,D] in place.
void add_position_forward(Tensor& x, const Tensor& pos);
// dpos[S,D] += sum_b dy[b] (accumulates; summed over b in order, deterministic).
void add_position_backward(const Tensor& dy, Tensor& dpos);

// y[B,D] = x[b, index] for x [B,S,D]; 0 <= index < S.
void select_token_forward(const Tensor& x, int64_t index, Tensor& y);
// dx[B,S,D] = dy[b] at token `index`, zeros elsewhere (overwritten).
void select_token_backward(const Tensor& dy, int64_t index, Tensor& dx);

namespace cpu {
template <class In, class Out>
struct PatchifyParams {
  const In* images = nullptr;  // [batch, height, width, channels]
  Out* out = nullptr;          // [batch, (height/patch)*(width/patch), patch*patch*channels]
  int64_t batch = 0, height = 0, width = 0, channels = 0, patch = 1;
  double in_scale = 1.0;         // 1/255 for u8 images
  const double* mean = nullptr;  // [channels]
  const double* std = nullptr;   // [channels]
};
template <class In, class Out>
void patchify(const PatchifyParams<In, Out>& p);
}  // namespace cpu

#ifdef ATTNCAMP_WITH_CUDA
// CUDA launchers on the current stream of `device`. Sequence pointers carry their dtype (f32,
// bf16 or f16); tok, pos, dtok, dpos are f32. Shapes as in the tensor-level functions.
namespace cuda {
struct PatchifyArgs {
  const void* images = nullptr;    // [batch, height, width, channels]
  DType image_dtype = DType::kU8;  // u8 or f32
  void* out = nullptr;             // [batch, (height/patch)*(width/patch), patch*patch*channels]
  DType out_dtype = DType::kF32;   // f32, bf16 or f16
  int64_t batch = 0, height = 0, width = 0, channels = 0, patch = 1;
  // out = v * scale[c] - shift[c] in f32 for channel c, as on the CPU (channels <= kMaxPatchifyChannels)
  float scale[kMaxPatchifyChannels] = {1.0f, 1.0f, 1.0f, 1.0f};
  float shift[kMaxPatchifyChannels] = {0.0f, 0.0f, 0.0f, 0.0f};
};
void patchify(const PatchifyArgs& p, int device);
void prepend_token_forward(const void* x, DType xt, const float* tok, void* y, DType yt, int64_t b, int64_t s,
                           int64_t d, int device);
void prepend_token_backward(const void* dy, DType dyt, void* dx, DType dxt, float* dtok, int64_t b, int64_t s,
                            int64_t d, int device);
// x [b, sd] += pos [sd]; dpos [sd] += sum_b dy [b, sd].
void add_position_forward(void* x, DType xt, const float* pos, int64_t b, int64_t sd, int device);
void add_position_backward(const void* dy, DType dyt, float* dpos, int64_t b, int64_t sd, int device);
void select_token_forward(const void* x, DType xt, void* y, DType yt, int64_t b, int64_t s, int64_t d, int64_t index,
                          int device);
void select_token_backward(const void* dy, DType dyt, void* dx, DType dxt, int64_t b, int64_t s, int64_t d,
                           int64_t index, int device);
}  // namespace cuda
#endif

}  // namespace attncamp::ops
