// CPU RoIAlign and the tensor-level API (CUDA tensors go to ops/cuda/roi_align.cu). A bin's
// samples are separable: sample (iy, ix) weighs pixel (r, c) by wy(iy, r) * wx(ix, c), so the bin
// weighs it by Wy(r) * Wx(c) with Wy(r) the sum of wy over the bin's valid y samples (likewise Wx).
// Each pixel a bin reads is then visited once (about (gh + 1) (gw + 1) pixels instead of
// 4 gh gw taps), its channels summed in double as one contiguous vector. Forward: one (ROI, bin
// row) per iteration (OpenMP). Backward: each (image, 64-channel block) owns its slice of
// grad_input, adds the ROIs of that image in index order into a double scratch map and writes it
// once, so the result does not depend on the thread count.
#include "ops/roi_align.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "ops/dispatch.h"
#include "ops/roi_align_geometry.h"
#include "runtime/env.h"

namespace attncamp::ops {
namespace cpu {
namespace {

using roi_align::AxisTaps;
using roi_align::RoiBins;

constexpr int64_t kChannelBlock = 64;  // backward: channels per scratch map
constexpr size_t kRecentPixels = 4;    // AxisTable: entries searched for a pixel read again

// A pixel row (or column) a bin reads and the bin's total weight on it along that axis.
struct PixelWeight {
  int64_t pixel;
  double weight;
};

// The pixels every bin of one axis reads: pixels[begin[p] .. begin[p + 1]) belong to bin p, each
// pixel once (up to rounding, see build), in the order the bin's samples first read it. A pixel read with weight 0 (the
// far border) is kept, so values that are not finite there still show, as in torchvision.
template <class T>
struct AxisTable {
  std::vector<PixelWeight> pixels;
  std::vector<size_t> begin;

  // Bins [first_bin, first_bin + bins) of an axis of `size` pixels.
  void build(const T start, const T bin, int first_bin, int bins, int grid, int size) {
    pixels.clear();
    begin.assign(static_cast<size_t>(bins) + 1, 0);
    for (int p = 0; p < bins; ++p) {
      const size_t first = pixels.size();
      // Sample positions are monotonic along an axis, so a pixel read again is among the last few
      // entries (a pixel listed twice would only cost time: the sums stay the same).
      auto add = [&](int64_t pixel, T w) {
        for (size_t i = pixels.size(); i > first && i + kRecentPixels > pixels.size(); --i) {
          if (pixels[i - 1].pixel == pixel) {
            pixels[i - 1].weight += static_cast<double>(w);
            return;
          }
        }
        pixels.push_back({pixel, static_cast<double>(w)});
      };
      for (int i = 0; i < grid; ++i) {
        AxisTaps<T> t;
        if (!roi_align::axis_taps(roi_align::sample_position(start, bin, first_bin + p, i, grid), size, t)) continue;
        add(t.lo, t.w_lo);
        add(t.hi, t.w_hi);
      }
      begin[static_cast<size_t>(p) + 1] = pixels.size();
    }
  }
  const PixelWeight* first(int p) const { return pixels.data() + begin[static_cast<size_t>(p)]; }
  const PixelWeight* last(int p) const { return pixels.data() + begin[static_cast<size_t>(p) + 1]; }
};

// acc[i] += w1 a[i] + w2 b[i] + w3 c[i] + w4 d[i], in double.
template <class T>
void add4(double* acc, const T* a, const T* b, const T* c, const T* d, double w1, double w2, double w3, double w4,
          int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    acc[i] += w1 * static_cast<double>(a[i]) + w2 * static_cast<double>(b[i]) + w3 * static_cast<double>(c[i]) +
              w4 * static_cast<double>(d[i]);
  }
}

template <class T>
void add1(double* acc, const T* a, double w, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) acc[i] += w * static_cast<double>(a[i]);
}

template <class T>
RoiBins<T> bins_of(const RoiAlignParams<T>& p, int64_t k) {
  return roi_align::roi_bins(p.rois + k * 5, p.spatial_scale, static_cast<int>(p.pooled_h),
                             static_cast<int>(p.pooled_w), p.sampling_ratio);
}

template <class T>
int64_t batch_of(const RoiAlignParams<T>& p, int64_t k) {
  return static_cast<int64_t>(p.rois[k * 5]);
}

}  // namespace

template <class T>
void roi_align_forward(const RoiAlignParams<T>& p, const T* input, T* output) {
  const int64_t C = p.channels, H = p.height, W = p.width, PH = p.pooled_h, PW = p.pooled_w;
  const int64_t rows = p.num_rois * PH;
  if (rows == 0 || PW == 0 || C == 0) return;
#pragma omp parallel
  {
    std::vector<double> acc(static_cast<size_t>(C));
    AxisTable<T> ys, xs;
#pragma omp for schedule(dynamic, 4)
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t k = row / PH;
      const int ph = static_cast<int>(row % PH);
      const RoiBins<T> r = bins_of(p, k);
      const T* img = input + batch_of(p, k) * H * W * C;
      ys.build(r.start_y, r.bin_h, ph, 1, std::max(r.grid_h, 0), static_cast<int>(H));
      xs.build(r.start_x, r.bin_w, 0, static_cast<int>(PW), std::max(r.grid_w, 0), static_cast<int>(W));
      const double count = static_cast<double>(r.count);
      for (int pw = 0; pw < PW; ++pw) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (const PixelWeight* y = ys.first(0); y != ys.last(0); ++y) {
          const T* line = img + y->pixel * W * C;
          const PixelWeight* x = xs.first(pw);
          for (; x + 4 <= xs.last(pw); x += 4) {
            add4(acc.data(), line + x[0].pixel * C, line + x[1].pixel * C, line + x[2].pixel * C, line + x[3].pixel * C,
                 y->weight * x[0].weight, y->weight * x[1].weight, y->weight * x[2].weight, y->weight * x[3].weight, C);
          }
          for (; x != xs.last(pw); ++x) add1(acc.data(), line + x->pixel * C, y->weight * x->weight, C);
        }
        T* o = output + (row * PW + pw) * C;
        for (int64_t c = 0; c < C; ++c) o[c] = static_cast<T>(acc[static_cast<size_t>(c)] / count);
      }
    }
  }
}

template <class T>
void roi_align_backward(const RoiAlignParams<T>& p, const T* grad_output, T* grad_input) {
  const int64_t C = p.channels, H = p.height, W = p.width, PH = p.pooled_h, PW = p.pooled_w;
  const int64_t HW = H * W;
  const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
  if (p.batch == 0 || blocks == 0) return;
  std::vector<std::vector<int64_t>> by_image(static_cast<size_t>(p.batch));
  for (int64_t k = 0; k < p.num_rois; ++k) by_image[static_cast<size_t>(batch_of(p, k))].push_back(k);
#pragma omp parallel
  {
    std::vector<double> acc, g(static_cast<size_t>(kChannelBlock));
    AxisTable<T> ys, xs;
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < p.batch * blocks; ++item) {
      const int64_t b = item / blocks, c0 = (item % blocks) * kChannelBlock;
      const int64_t cw = std::min(kChannelBlock, C - c0);
      acc.assign(static_cast<size_t>(HW * cw), 0.0);
      for (const int64_t k : by_image[static_cast<size_t>(b)]) {
        const RoiBins<T> r = bins_of(p, k);
        ys.build(r.start_y, r.bin_h, 0, static_cast<int>(PH), std::max(r.grid_h, 0), static_cast<int>(H));
        xs.build(r.start_x, r.bin_w, 0, static_cast<int>(PW), std::max(r.grid_w, 0), static_cast<int>(W));
        const double count = static_cast<double>(r.count);
        for (int ph = 0; ph < PH; ++ph) {
          for (int pw = 0; pw < PW; ++pw) {
            const T* go = grad_output + ((k * PH + ph) * PW + pw) * C + c0;
            for (int64_t c = 0; c < cw; ++c) g[static_cast<size_t>(c)] = static_cast<double>(go[c]) / count;
            for (const PixelWeight* y = ys.first(ph); y != ys.last(ph); ++y) {
              double* line = acc.data() + y->pixel * W * cw;
              for (const PixelWeight* x = xs.first(pw); x != xs.last(pw); ++x) {
                double* a = line + x->pixel * cw;
                const double w = y->weight * x->weight;
#pragma omp simd
                for (int64_t c = 0; c < cw; ++c) a[c] += w * g[static_cast<size_t>(c)];
              }
            }
          }
        }
      }
      T* gi = grad_input + b * HW * C + c0;
      for (int64_t pix = 0; pix < HW; ++pix) {
        const double* a = acc.data() + pix * cw;
        for (int64_t c = 0; c < cw; ++c) gi[pix * C + c] = static_cast<T>(a[c]);
      }
    }
  }
}

template void roi_align_forward<float>(const RoiAlignParams<float>&, const float*, float*);
template void roi_align_forward<double>(const RoiAlignParams<double>&, const double*, double*);
template void roi_align_backward<float>(const RoiAlignParams<float>&, const float*, float*);
template void roi_align_backward<double>(const RoiAlignParams<double>&, const double*, double*);

}  // namespace cpu

namespace {

constexpr int64_t kMaxExtent = INT_MAX;  // kernels index rows, columns and bins with int

// Sizes of a call, from its feature-map and pooled tensors.
struct Dims {
  int64_t batch = 0, height = 0, width = 0, channels = 0, num_rois = 0, pooled_h = 0, pooled_w = 0;
};

// A feature map [B, H, W, C] with H, W >= 1.
void check_map(const char* op, const char* what, const Tensor& t, DTypeSet dtypes, Dims& d) {
  check_arg(op, what, t, dtypes);
  check_dim(op, what, t, 4, "[B,H,W,C] (channels-last)");
  for (int i : {1, 2}) {
    ATTNCAMP_CHECK(t.size(i) >= 1 && t.size(i) <= kMaxExtent, op, ": ", what,
                   " must be [B,H,W,C] with 1 <= H, W <= ", kMaxExtent, "; got ", shape_str(t.shape()));
  }
  d.batch = t.size(0);
  d.height = t.size(1);
  d.width = t.size(2);
  d.channels = t.size(3);
}

// rois [K, 5]: f32 on CUDA, the activations' dtype on the CPU.
void check_rois(const char* op, const Tensor& rois, DType act, bool cuda, Dims& d) {
  check_defined(op, "rois", rois);
  check_dtype(op, "rois", rois, cuda ? DType::kF32 : act, cuda ? "on CUDA ROIs are f32" : "the feature map's dtype");
  check_contiguous(op, "rois", rois);
  ATTNCAMP_CHECK(rois.dim() == 2 && rois.size(1) == 5, op, ": rois must be [K,5] (batch index, x1, y1, x2, y2); got ",
                 shape_str(rois.shape()));
  d.num_rois = rois.size(0);
}

// The pooled tensor [K, ph, pw, C] of dtype `act`, ph, pw >= 1.
void check_pooled(const char* op, const char* what, const Tensor& t, DType act, Dims& d) {
  check_defined(op, what, t);
  check_dim(op, what, t, 4, "[K,ph,pw,C] (channels-last)");
  for (int i : {1, 2}) {
    ATTNCAMP_CHECK(t.size(i) >= 1 && t.size(i) <= kMaxExtent, op, ": ", what,
                   " must be [K,ph,pw,C] with 1 <= ph, pw <= ", kMaxExtent, "; got ", shape_str(t.shape()));
  }
  d.pooled_h = t.size(1);
  d.pooled_w = t.size(2);
  check_exact(op, what, t, {d.num_rois, d.pooled_h, d.pooled_w, d.channels}, act);
}

void check_options(const char* op, const RoiAlignOptions& opt) {
  ATTNCAMP_CHECK(std::isfinite(opt.spatial_scale) && opt.spatial_scale > 0, op,
                 ": spatial_scale must be finite and > 0; got ", opt.spatial_scale);
  ATTNCAMP_CHECK(opt.sampling_ratio <= roi_align::kMaxSamplingGrid, op,
                 ": sampling_ratio must be <= ", roi_align::kMaxSamplingGrid, " (<= 0: adaptive); got ",
                 opt.sampling_ratio);
}

// Throws the error for ROI k (row `roi` of 5 values, dtype T) unless it passes roi_problem.
template <class T>
void check_roi(const char* op, int64_t k, const T* roi, const Dims& d, const RoiAlignOptions& opt) {
  const T scale = static_cast<T>(opt.spatial_scale);
  const int ph = static_cast<int>(d.pooled_h), pw = static_cast<int>(d.pooled_w);
  const int ratio = static_cast<int>(std::max<int64_t>(opt.sampling_ratio, 0));
  switch (roi_align::roi_problem(roi, d.batch, scale, ph, pw, ratio)) {
    case roi_align::RoiProblem::kOk: return;
    case roi_align::RoiProblem::kBatchIndex:
      ATTNCAMP_THROW(op, ": rois[", k, ", 0] (the batch index of ROI ", k, ") must be an integer in [0, ", d.batch,
                     "); got ", roi[0]);
    case roi_align::RoiProblem::kNotFinite:
      ATTNCAMP_THROW(op, ": rois[", k, ", 1:5] (x1, y1, x2, y2 of ROI ", k, ") must be finite after spatial_scale ",
                     opt.spatial_scale, "; got (", roi[1], ", ", roi[2], ", ", roi[3], ", ", roi[4], ")");
    case roi_align::RoiProblem::kGridTooLarge: {
      const roi_align::RoiCorners<T> c = roi_align::roi_corners(roi, scale);
      ATTNCAMP_THROW(op, ": rois[", k, "] (ROI ", k, ") must span at most ", roi_align::kMaxSamplingGrid,
                     " x the pooled size in feature-map pixels per axis with the adaptive sampling grid "
                     "(sampling_ratio <= 0); got ",
                     c.y2 - c.y1, " x ", c.x2 - c.x1, " pixels (height x width) for ", ph, " x ", pw,
                     " bins: pass sampling_ratio > 0 or fix the box");
    }
  }
}

template <class T>
cpu::RoiAlignParams<T> cpu_params(const Dims& d, const Tensor& rois, const RoiAlignOptions& opt) {
  cpu::RoiAlignParams<T> p;
  p.batch = d.batch;
  p.height = d.height;
  p.width = d.width;
  p.channels = d.channels;
  p.num_rois = d.num_rois;
  p.pooled_h = d.pooled_h;
  p.pooled_w = d.pooled_w;
  p.rois = rois.data<T>();
  p.spatial_scale = static_cast<T>(opt.spatial_scale);
  p.sampling_ratio = static_cast<int>(std::max<int64_t>(opt.sampling_ratio, 0));
  return p;
}

#ifdef ATTNCAMP_WITH_CUDA
cuda::RoiAlignShape cuda_shape(const Dims& d, const RoiAlignOptions& opt) {
  cuda::RoiAlignShape s;
  s.batch = d.batch;
  s.height = d.height;
  s.width = d.width;
  s.channels = d.channels;
  s.num_rois = d.num_rois;
  s.pooled_h = d.pooled_h;
  s.pooled_w = d.pooled_w;
  s.spatial_scale = static_cast<float>(opt.spatial_scale);
  s.sampling_ratio = static_cast<int>(std::max<int64_t>(opt.sampling_ratio, 0));
  return s;
}
#endif

// Checks every ROI on the CPU (rois of dtype f32 or f64).
void check_all_rois(const char* op, const Tensor& rois, const Dims& d, const RoiAlignOptions& opt) {
  dispatch_float(rois.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t k = 0; k < d.num_rois; ++k) check_roi(op, k, rois.data<T>() + k * 5, d, opt);
  });
}

// After a CUDA launcher reported ROI `bad` (or -1): reads that row and throws its error.
void report_cuda_roi(const char* op, int64_t bad, const Tensor& rois, const Dims& d, const RoiAlignOptions& opt) {
  if (bad < 0) return;
  const Tensor row = rois.slice(bad, bad + 1).to(Device::cpu());
  check_roi(op, bad, row.data<float>(), d, opt);
  ATTNCAMP_THROW(op, ": ROI ", bad, " failed the device's check but passes the host's");
}

}  // namespace

void roi_align_forward(const Tensor& input, const Tensor& rois, const RoiAlignOptions& opt, Tensor& output) {
  const char* op = "roi_align_forward";
  const bool cuda = on_cuda(op, {&input, &rois, &output});
  Dims d;
  check_map(op, "input", input, activation_dtypes(cuda), d);
  check_rois(op, rois, input.dtype(), cuda, d);
  check_pooled(op, "output", output, input.dtype(), d);
  check_options(op, opt);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::RoiAlignForwardArgs a;
    a.shape = cuda_shape(d, opt);
    a.act = input.dtype();
    a.rois = rois.data<float>();
    a.input = input.raw_data();
    a.output = output.raw_data();
    a.device = input.device().index;
    report_cuda_roi(op, cuda::roi_align_forward(a), rois, d, opt);
#endif
    return;
  }
  check_all_rois(op, rois, d, opt);
  dispatch_float(input.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::roi_align_forward(cpu_params<T>(d, rois, opt), input.data<T>(), output.data<T>());
  });
}

void roi_align_backward(const Tensor& grad_output, const Tensor& rois, const RoiAlignOptions& opt, Tensor& grad_input) {
  const char* op = "roi_align_backward";
  const bool cuda = on_cuda(op, {&grad_output, &rois, &grad_input});
  Dims d;
  check_map(op, "grad_input", grad_input, activation_dtypes(cuda), d);
  check_rois(op, rois, grad_input.dtype(), cuda, d);
  check_pooled(op, "grad_output", grad_output, grad_input.dtype(), d);
  check_options(op, opt);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::RoiAlignBackwardArgs a;
    a.shape = cuda_shape(d, opt);
    a.act = grad_input.dtype();
    a.rois = rois.data<float>();
    a.grad_output = grad_output.raw_data();
    a.grad_input = grad_input.raw_data();
    a.deterministic = resolve_roi_align_deterministic(opt.deterministic);
    a.device = grad_input.device().index;
    report_cuda_roi(op, cuda::roi_align_backward(a), rois, d, opt);
#endif
    return;
  }
  check_all_rois(op, rois, d, opt);
  dispatch_float(grad_input.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::roi_align_backward(cpu_params<T>(d, rois, opt), grad_output.data<T>(), grad_input.data<T>());
  });
}

bool resolve_roi_align_deterministic(bool requested) { return env::flag(env::kDeterministic) || requested; }

}  // namespace attncamp::ops
