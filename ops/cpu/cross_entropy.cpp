// CPU fused softmax cross-entropy and the tensor-level API (CUDA tensors go to
// ops/cuda/cross_entropy.cu): labels are validated first, then rows run in parallel (static
// schedule, one row per iteration, so results do not depend on the thread count). Each row's
// log-sum-exp is accumulated in double.
#include "ops/cross_entropy.h"

#include <cmath>

#include "ops/dispatch.h"

namespace attncamp::ops::cpu {
namespace {

template <typename T>
struct CrossEntropyParams {
  const T* logits = nullptr;        // [n][c]
  const int32_t* labels = nullptr;  // [n]
  T* losses = nullptr;              // [n]
  T* dlogits = nullptr;             // [n][c] or nullptr
  int64_t n = 0, c = 0;
  double smoothing = 0, grad_scale = 1;
};

template <typename T>
void cross_entropy_kernel(const CrossEntropyParams<T>& p) {
  const int64_t c_n = p.c;
  const double off = p.smoothing / static_cast<double>(c_n);  // target mass of every class
  const double on = 1.0 - p.smoothing + off;                  // target mass of the label
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < p.n; ++i) {
    const T* x = p.logits + i * c_n;
    T* g = p.dlogits != nullptr ? p.dlogits + i * c_n : nullptr;
    const int32_t label = p.labels[i];
    if (label < 0) {
      p.losses[i] = 0;
      if (g != nullptr) {
        for (int64_t c = 0; c < c_n; ++c) g[c] = 0;
      }
      continue;
    }
    double mx = x[0];
    for (int64_t c = 1; c < c_n; ++c) mx = x[c] > mx ? static_cast<double>(x[c]) : mx;
    double sum = 0, total = 0;
    for (int64_t c = 0; c < c_n; ++c) {
      sum += std::exp(static_cast<double>(x[c]) - mx);
      total += x[c];
    }
    const double lse = mx + std::log(sum);
    // -sum_c q_c (x_c - lse) = lse - (1 - eps) x_label - eps/C sum_c x_c
    p.losses[i] = static_cast<T>(lse - (1.0 - p.smoothing) * x[label] - off * total);
    if (g != nullptr) {
      for (int64_t c = 0; c < c_n; ++c) {
        const double prob = std::exp(static_cast<double>(x[c]) - lse);
        g[c] = static_cast<T>(p.grad_scale * (prob - (c == label ? on : off)));
      }
    }
  }
}

template <typename T>
void run(const Tensor& logits, const Tensor& labels, double smoothing, double grad_scale, Tensor& losses,
         Tensor& dlogits) {
  CrossEntropyParams<T> p;
  p.logits = logits.data<T>();
  p.labels = labels.data<int32_t>();
  p.losses = losses.data<T>();
  p.dlogits = dlogits.defined() ? dlogits.data<T>() : nullptr;
  p.n = logits.size(0);
  p.c = logits.size(1);
  p.smoothing = smoothing;
  p.grad_scale = grad_scale;
  cross_entropy_kernel(p);
}

}  // namespace
}  // namespace attncamp::ops::cpu

namespace attncamp::ops {

void cross_entropy_forward_backward(const Tensor& logits, const Tensor& labels, double label_smoothing,
                                    double grad_scale, Tensor& losses, Tensor& dlogits) {
  const char* op = "cross_entropy_forward_backward";
  const bool cuda = on_cuda(op, {&logits, &labels, &losses, &dlogits});
  check_logits(op, "logits", logits, activation_dtypes(cuda));
  const int64_t n = logits.size(0), classes = logits.size(1);
  check_exact(op, "labels", labels, {n}, DType::kI32);
  check_param(op, "losses", losses, {n}, logits.dtype(), cuda);
  if (dlogits.defined()) check_like(op, "dlogits", dlogits, logits);
  ATTNCAMP_CHECK(label_smoothing >= 0 && label_smoothing <= 1, op, ": label_smoothing must be in [0, 1]; got ",
                 label_smoothing);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::CrossEntropyArgs a;
    a.rows = n;
    a.cols = classes;
    a.act = logits.dtype();
    a.logits = logits.raw_data();
    a.labels = labels.data<int32_t>();
    a.losses = losses.data<float>();
    a.dlogits = dlogits.defined() ? dlogits.raw_data() : nullptr;
    a.label_smoothing = label_smoothing;
    a.grad_scale = grad_scale;
    a.device = logits.device().index;
    cuda::cross_entropy_forward_backward(a);
#endif
    return;
  }
  check_class_labels(op, labels, classes);
  dispatch_float(logits.dtype(), op, [&](auto tag) {
    cpu::run<decltype(tag)>(logits, labels, label_smoothing, grad_scale, losses, dlogits);
  });
}

}  // namespace attncamp::ops
