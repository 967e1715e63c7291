// CPU detection losses and the tensor-level API of ops/detection_loss.h (CUDA tensors go to
// ops/cuda/detection_loss.cu): one element or box pair per iteration (OpenMP, static schedule), in
// double, rounded once to the dtype.
#include "ops/detection_loss.h"

#include <cmath>

#include "ops/boxes.h"
#include "ops/dispatch.h"

namespace attncamp::ops {
namespace cpu {
namespace {

template <class T>
double upstream(const ElementLossParams<T>& p, int64_t i) {
  return p.grad_scale * (p.dloss != nullptr ? static_cast<double>(p.dloss[i]) : 1.0);
}

double sign(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

// sigmoid(x) without overflow.
double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

// What the focal loss and its gradient share for one element.
struct Focal {
  double p, q, ce, m, alpha_t;  // sigmoid(x), sigmoid(-x), BCE, 1 - p_t, alpha_t
};
Focal focal(double x, double t, double alpha) {
  Focal f;
  f.p = sigmoid(x);
  f.q = sigmoid(-x);
  f.ce = std::fmax(x, 0.0) - x * t + std::log1p(std::exp(-std::fabs(x)));
  f.m = t * f.q + (1 - t) * f.p;
  f.alpha_t = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1.0;
  return f;
}

// Share of the gradient of max(a, b) (or, with `min`, of min(a, b)) that goes to a.
double share(double a, double b, bool min) {
  if (a == b) return 0.5;
  return (min ? a < b : a > b) ? 1.0 : 0.0;
}

}  // namespace

template <class T>
void smooth_l1_loss_forward(const ElementLossParams<T>& p, T* loss) {
  const double beta = p.a;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const double n = std::fabs(static_cast<double>(p.x[i]) - p.target[i]);
    loss[i] = static_cast<T>(beta < kSmoothL1MinBeta ? n : (n < beta ? 0.5 * n * n / beta : n - 0.5 * beta));
  }
}

template <class T>
void smooth_l1_loss_backward(const ElementLossParams<T>& p, T* dx) {
  const double beta = p.a;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const double d = static_cast<double>(p.x[i]) - p.target[i];
    const double g = beta >= kSmoothL1MinBeta && std::fabs(d) < beta ? d / beta : sign(d);
    dx[i] = static_cast<T>(upstream(p, i) * g);
  }
}

template <class T>
void sigmoid_focal_loss_forward(const ElementLossParams<T>& p, T* loss) {
  const double alpha = p.a, gamma = p.b;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const Focal f = focal(p.x[i], p.target[i], alpha);
    loss[i] = static_cast<T>(f.alpha_t * f.ce * std::pow(f.m, gamma));
  }
}

template <class T>
void sigmoid_focal_loss_backward(const ElementLossParams<T>& p, T* dx) {
  const double alpha = p.a, gamma = p.b;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const double t = p.target[i];
    const Focal f = focal(p.x[i], t, alpha);
    double g = (f.p - t) * std::pow(f.m, gamma);
    if (gamma != 0 && f.m != 0) g += gamma * f.ce * std::pow(f.m, gamma - 1) * f.p * f.q * (1 - 2 * t);
    dx[i] = static_cast<T>(upstream(p, i) * f.alpha_t * g);
  }
}

namespace {

// The terms of the GIoU loss of box b against target g (fvcore's form, ops/detection_loss.h).
struct Giou {
  double x1, y1, x2, y2, gx1, gy1, gx2, gy2;
  double iw, ih;  // intersection sides (maybe <= 0)
  bool overlap;   // iw > 0 and ih > 0
  double inter, uni, cw, ch, c;
};
template <class T>
Giou giou_terms(const T* b, const T* g) {
  Giou t;
  t.x1 = b[0], t.y1 = b[1], t.x2 = b[2], t.y2 = b[3];
  t.gx1 = g[0], t.gy1 = g[1], t.gx2 = g[2], t.gy2 = g[3];
  t.iw = std::fmin(t.x2, t.gx2) - std::fmax(t.x1, t.gx1);
  t.ih = std::fmin(t.y2, t.gy2) - std::fmax(t.y1, t.gy1);
  t.overlap = t.iw > 0 && t.ih > 0;
  t.inter = t.overlap ? t.iw * t.ih : 0.0;
  t.uni = (t.x2 - t.x1) * (t.y2 - t.y1) + (t.gx2 - t.gx1) * (t.gy2 - t.gy1) - t.inter;
  t.cw = std::fmax(t.x2, t.gx2) - std::fmin(t.x1, t.gx1);
  t.ch = std::fmax(t.y2, t.gy2) - std::fmin(t.y1, t.gy1);
  t.c = t.cw * t.ch;
  return t;
}

}  // namespace

template <class T>
void giou_loss_forward(const ElementLossParams<T>& p, T* loss) {
  const double eps = p.a;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const Giou t = giou_terms(p.x + 4 * i, p.target + 4 * i);
    loss[i] = static_cast<T>(1.0 - t.inter / (t.uni + eps) + (t.c - t.uni) / (t.c + eps));
  }
}

// With U' = union + eps and C' = C + eps, G = inter / U' - (C - union) / C':
// dG/dinter = 1/U' + inter/U'^2 - 1/C' (union falls as inter grows), dG/darea = 1/C' - inter/U'^2,
// dG/dC = -(eps + union)/C'^2; the loss is 1 - G. Each coordinate reaches G through the box's
// area, the intersection (where the boxes overlap) and the enclosing box.
template <class T>
void giou_loss_backward(const ElementLossParams<T>& p, T* dboxes) {
  const double eps = p.a;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const Giou t = giou_terms(p.x + 4 * i, p.target + 4 * i);
    const double u1 = t.uni + eps, c1 = t.c + eps;
    const double d_inter = t.overlap ? 1 / u1 + t.inter / (u1 * u1) - 1 / c1 : 0.0;
    const double d_area = 1 / c1 - t.inter / (u1 * u1);
    const double d_c = -(eps + t.uni) / (c1 * c1);
    const double w = t.x2 - t.x1, h = t.y2 - t.y1;
    const double dg_x1 =
        -d_area * h - d_inter * t.ih * share(t.x1, t.gx1, false) - d_c * t.ch * share(t.x1, t.gx1, true);
    const double dg_x2 =
        d_area * h + d_inter * t.ih * share(t.x2, t.gx2, true) + d_c * t.ch * share(t.x2, t.gx2, false);
    const double dg_y1 =
        -d_area * w - d_inter * t.iw * share(t.y1, t.gy1, false) - d_c * t.cw * share(t.y1, t.gy1, true);
    const double dg_y2 =
        d_area * w + d_inter * t.iw * share(t.y2, t.gy2, true) + d_c * t.cw * share(t.y2, t.gy2, false);
    const double up = -upstream(p, i);  // loss = 1 - G
    T* o = dboxes + 4 * i;
    o[0] = static_cast<T>(up * dg_x1);
    o[1] = static_cast<T>(up * dg_y1);
    o[2] = static_cast<T>(up * dg_x2);
    o[3] = static_cast<T>(up * dg_y2);
  }
}

#define ATTNCAMP_DETECTION_LOSS_INSTANTIATE(T)                                   \
  template void smooth_l1_loss_forward<T>(const ElementLossParams<T>&, T*);      \
  template void smooth_l1_loss_backward<T>(const ElementLossParams<T>&, T*);     \
  template void sigmoid_focal_loss_forward<T>(const ElementLossParams<T>&, T*);  \
  template void sigmoid_focal_loss_backward<T>(const ElementLossParams<T>&, T*); \
  template void giou_loss_forward<T>(const ElementLossParams<T>&, T*);           \
  template void giou_loss_backward<T>(const ElementLossParams<T>&, T*);
ATTNCAMP_DETECTION_LOSS_INSTANTIATE(float)
ATTNCAMP_DETECTION_LOSS_INSTANTIATE(double)
#undef ATTNCAMP_DETECTION_LOSS_INSTANTIATE

}  // namespace cpu

namespace {

using cuda::DetectionLoss;

// One call of a loss: its operands checked, then the CUDA launcher or the CPU kernel. `x` is the
// input, logits or boxes; `dloss` is only set (maybe undefined) for a backward, whose output `out`
// has x's layout; a forward's `out` has one value per element (per box pair for GIoU).
void run(const char* op, DetectionLoss kind, bool backward, const Tensor& x, const Tensor& target, const Tensor& dloss,
         double a, double b, double grad_scale, Tensor& out) {
  const bool cuda = on_cuda(op, {&x, &target, &dloss, &out});
  const bool giou = kind == DetectionLoss::kGiou;
  const char* x_name = giou ? "boxes" : kind == DetectionLoss::kSmoothL1 ? "input" : "logits";
  if (giou) {
    check_box_tensor(op, x_name, x, cuda);
  } else {
    check_arg(op, x_name, x, box_dtypes(cuda));
  }
  check_like(op, giou ? "target" : kind == DetectionLoss::kSmoothL1 ? "target" : "targets", target, x);
  const Shape per_item = giou ? Shape{x.size(0)} : x.shape();
  if (backward && dloss.defined()) check_exact(op, "dloss", dloss, per_item, x.dtype());
  if (backward) {
    check_like(op, giou ? "dboxes" : kind == DetectionLoss::kSmoothL1 ? "dinput" : "dlogits", out, x);
  } else {
    check_exact(op, "loss", out, per_item, x.dtype());
  }
  ATTNCAMP_CHECK(std::isfinite(grad_scale), op, ": grad_scale must be finite; got ", grad_scale);
  const int64_t n = giou ? x.size(0) : x.numel();
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::DetectionLossArgs args;
    args.loss = kind;
    args.n = n;
    args.x = x.data<float>();
    args.target = target.data<float>();
    args.dloss = backward && dloss.defined() ? dloss.data<float>() : nullptr;
    args.a = static_cast<float>(a);
    args.b = static_cast<float>(b);
    args.grad_scale = static_cast<float>(grad_scale);
    args.device = x.device().index;
    if (backward) {
      cuda::detection_loss_backward(args, out.data<float>());
    } else {
      cuda::detection_loss_forward(args, out.data<float>());
    }
#endif
    return;
  }
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::ElementLossParams<T> p;
    p.n = n;
    p.x = x.data<T>();
    p.target = target.data<T>();
    p.dloss = backward && dloss.defined() ? dloss.data<T>() : nullptr;
    p.a = a;
    p.b = b;
    p.grad_scale = grad_scale;
    T* o = out.data<T>();
    switch (kind) {
      case DetectionLoss::kSmoothL1:
        backward ? cpu::smooth_l1_loss_backward(p, o) : cpu::smooth_l1_loss_forward(p, o);
        break;
      case DetectionLoss::kSigmoidFocal:
        backward ? cpu::sigmoid_focal_loss_backward(p, o) : cpu::sigmoid_focal_loss_forward(p, o);
        break;
      case DetectionLoss::kGiou: backward ? cpu::giou_loss_backward(p, o) : cpu::giou_loss_forward(p, o); break;
    }
  });
}

void check_beta(const char* op, double beta) {
  ATTNCAMP_CHECK(std::isfinite(beta) && beta >= 0, op, ": beta must be finite and >= 0; got ", beta);
}
void check_eps(const char* op, double eps) {
  ATTNCAMP_CHECK(std::isfinite(eps) && eps >= 0, op, ": eps must be finite and >= 0; got ", eps);
}
void check_focal(const char* op, double alpha, double gamma) {
  ATTNCAMP_CHECK(alpha <= 1, op, ": alpha must be <= 1 (negative: no weighting); got ", alpha);
  ATTNCAMP_CHECK(std::isfinite(gamma) && gamma >= 0, op, ": gamma must be finite and >= 0; got ", gamma);
}

}  // namespace

void smooth_l1_loss_forward(const Tensor& input, const Tensor& target, double beta, Tensor& loss) {
  const char* op = "smooth_l1_loss_forward";
  check_beta(op, beta);
  run(op, DetectionLoss::kSmoothL1, false, input, target, Tensor(), beta, 0, 1, loss);
}

void smooth_l1_loss_backward(const Tensor& dloss, const Tensor& input, const Tensor& target, double beta,
                             double grad_scale, Tensor& dinput) {
  const char* op = "smooth_l1_loss_backward";
  check_beta(op, beta);
  run(op, DetectionLoss::kSmoothL1, true, input, target, dloss, beta, 0, grad_scale, dinput);
}

void giou_loss_forward(const Tensor& boxes, const Tensor& target, double eps, Tensor& loss) {
  const char* op = "giou_loss_forward";
  check_eps(op, eps);
  run(op, DetectionLoss::kGiou, false, boxes, target, Tensor(), eps, 0, 1, loss);
}

void giou_loss_backward(const Tensor& dloss, const Tensor& boxes, const Tensor& target, double eps, double grad_scale,
                        Tensor& dboxes) {
  const char* op = "giou_loss_backward";
  check_eps(op, eps);
  run(op, DetectionLoss::kGiou, true, boxes, target, dloss, eps, 0, grad_scale, dboxes);
}

void sigmoid_focal_loss_forward(const Tensor& logits, const Tensor& targets, double alpha, double gamma, Tensor& loss) {
  const char* op = "sigmoid_focal_loss_forward";
  check_focal(op, alpha, gamma);
  run(op, DetectionLoss::kSigmoidFocal, false, logits, targets, Tensor(), alpha, gamma, 1, loss);
}

void sigmoid_focal_loss_backward(const Tensor& dloss, const Tensor& logits, const Tensor& targets, double alpha,
                                 double gamma, double grad_scale, Tensor& dlogits) {
  const char* op = "sigmoid_focal_loss_backward";
  check_focal(op, alpha, gamma);
  run(op, DetectionLoss::kSigmoidFocal, true, logits, targets, dloss, alpha, gamma, grad_scale, dlogits);
}

}  // namespace attncamp::ops
