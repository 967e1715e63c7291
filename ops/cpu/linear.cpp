// Linear layers (tensor level): checks shapes, then on the CPU composes the GEMM (ops/gemm.h) with
// the bias broadcast / deterministic column sum (ops/bias_add.h) and the exact GELU (ops/gelu.h);
// CUDA tensors go to ops/cuda/linear.cu after the CUDA dtype checks. Leading dims of x and y are
// flattened into rows, so [B,S,in] inputs run as one [B*S, in] GEMM.
#include "ops/linear.h"

#include <algorithm>

#include "ops/bias_add.h"
#include "ops/dispatch.h"
#include "ops/gelu.h"
#include "ops/gemm.h"

namespace attncamp::ops {
namespace {

// One operand of a linear call (ops/linear.h's dtype rule): defined and contiguous; activations
// in x's dtype (f32 or f64 on the CPU; f32, bf16 or f16 on CUDA); parameters and their gradients
// (`param`: b, dw, db) in x's dtype on the CPU and f32 on CUDA.
void check_operand(const char* op, const char* what, const Tensor& t, const Tensor& x, bool param, bool cuda) {
  if (param && cuda) return check_arg(op, what, t, DTypeSet{DType::kF32});
  check_arg(op, what, t, activation_dtypes(cuda));
  check_dtype(op, what, t, x.dtype(), "x's dtype");
}

// Shape of x with its last dimension replaced by `last`.
Shape with_last(const Shape& s, int64_t last) {
  Shape r = s;
  r.back() = last;
  return r;
}

// Checks the shapes of x [..., in], w [out, in] and `y` ([..., out]; y or dy) and returns
// {rows, in, out}; the dtypes are checked by the caller.
struct Dims {
  int64_t rows, in, out;
};
Dims check_shapes(const char* op, const Tensor& x, const Tensor& w, const Tensor& y, const char* y_name) {
  ATTNCAMP_CHECK(w.dim() == 2, op, ": w must be [out, in]; got ", shape_str(w.shape()));
  const int64_t out = w.size(0), in = w.size(1);
  ATTNCAMP_CHECK(x.dim() >= 1 && x.size(-1) == in, op, ": x must be [..., ", in, "] for w ", shape_str(w.shape()),
                 "; got ", shape_str(x.shape()));
  check_shape(op, y_name, y, with_last(x.shape(), out));
  const int64_t rows = in == 0 ? y.numel() / std::max<int64_t>(out, 1) : x.numel() / in;
  return {rows, in, out};
}

// Checks a forward call (linear, or linear_gelu when `pre` is defined) on either device.
Dims check_forward(const char* op, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& pre,
                   const Tensor& y, bool cuda) {
  check_operand(op, "x", x, x, false, cuda);
  check_operand(op, "w", w, x, false, cuda);
  check_operand(op, "y", y, x, false, cuda);
  const Dims d = check_shapes(op, x, w, y, "y");
  if (pre.defined()) {
    check_operand(op, "pre", pre, x, false, cuda);
    check_shape(op, "pre", pre, y.shape(), "y's shape");
  }
  if (b.defined()) {
    check_operand(op, "b", b, x, true, cuda);
    check_shape(op, "b", b, {d.out});
  }
  return d;
}

// Checks a backward call on either device (dx, db only when defined).
Dims check_backward(const char* op, const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& dx,
                    const Tensor& dw, const Tensor& db, bool cuda) {
  check_operand(op, "x", x, x, false, cuda);
  check_operand(op, "w", w, x, false, cuda);
  check_operand(op, "dy", dy, x, false, cuda);
  check_operand(op, "dw", dw, x, true, cuda);
  if (dx.defined()) check_operand(op, "dx", dx, x, false, cuda);
  if (db.defined()) check_operand(op, "db", db, x, true, cuda);
  const Dims d = check_shapes(op, x, w, dy, "dy");
  check_shape(op, "dw", dw, w.shape(), "w's shape");
  if (dx.defined()) check_shape(op, "dx", dx, x.shape(), "x's shape");
  if (db.defined()) check_shape(op, "db", db, {d.out});
  return d;
}

#ifdef ATTNCAMP_WITH_CUDA
cuda::LinearCudaParams cuda_params(const Dims& d, const Tensor& x, const Tensor& w) {
  cuda::LinearCudaParams p;
  p.rows = d.rows;
  p.in = d.in;
  p.out = d.out;
  p.dtype = x.dtype();
  p.x = x.raw_data();
  p.w = w.raw_data();
  return p;
}

const float* f32_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
float* f32_or_null(Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
void* raw_or_null(Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
#endif

}  // namespace

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const char* op = "linear_forward";
  const bool cuda = on_cuda(op, {&x, &w, &b, &y});
  const Dims d = check_forward(op, x, w, b, Tensor(), y, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::linear_forward(cuda_params(d, x, w), f32_or_null(b), y.raw_data(), y.device().index);
#endif
    return;
  }
  Tensor y2 = y.view({d.rows, d.out});
  if (b.defined()) {
    // Bias first, then the GEMM accumulates onto it (beta = 1): one pass over y instead of three.
    bias_fill(y2, b);
    gemm(x.view({d.rows, d.in}), false, w, true, y2, 1.0, 1.0);
  } else {
    gemm(x.view({d.rows, d.in}), false, w, true, y2);
  }
}

void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw, Tensor& db) {
  const char* op = "linear_backward";
  const bool cuda = on_cuda(op, {&dy, &x, &w, &dx, &dw, &db});
  const Dims d = check_backward(op, dy, x, w, dx, dw, db, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::linear_backward(cuda_params(d, x, w), dy.raw_data(), raw_or_null(dx), dw.data<float>(), f32_or_null(db),
                          x.device().index);
#endif
    return;
  }
  const Tensor dy2 = dy.view({d.rows, d.out});
  if (dx.defined()) gemm(dy2, false, w, false, dx.view({d.rows, d.in}));
  gemm(dy2, true, x.view({d.rows, d.in}), false, dw, 1.0, 1.0);
  if (db.defined()) bias_add_backward(dy2, db);
}

void linear_gelu_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& pre, Tensor& y) {
  const char* op = "linear_gelu_forward";
  const bool cuda = on_cuda(op, {&x, &w, &b, &pre, &y});
  check_defined(op, "pre", pre);
  [[maybe_unused]] const Dims d = check_forward(op, x, w, b, pre, y, cuda);
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::linear_gelu_forward(cuda_params(d, x, w), f32_or_null(b), pre.raw_data(), y.raw_data(), y.device().index);
#endif
    return;
  }
  linear_forward(x, w, b, pre);
  gelu_forward(pre, y);
}

void linear_gelu_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& pre, Tensor& dx, Tensor& dw,
                          Tensor& db) {
  const char* op = "linear_gelu_backward";
  const bool cuda = on_cuda(op, {&dy, &x, &w, &pre, &dx, &dw, &db});
  [[maybe_unused]] const Dims d = check_backward(op, dy, x, w, dx, dw, db, cuda);
  check_operand(op, "pre", pre, x, false, cuda);
  check_shape(op, "pre", pre, dy.shape(), "dy's shape");
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda::linear_gelu_backward(cuda_params(d, x, w), dy.raw_data(), pre.raw_data(), raw_or_null(dx), dw.data<float>(),
                               f32_or_null(db), x.device().index);
#endif
    return;
  }
  Tensor dpre = Tensor::empty(pre.shape(), pre.dtype());
  gelu_backward(pre, dy, dpre);
  linear_backward(dpre, x, w, dx, dw, db);
}

}  // namespace attncamp::ops
