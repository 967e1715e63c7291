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

void check_arg(const Tensor& t, const char* op, const char* what, DType dtype) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  ATTNCAMP_CHECK(t.dtype() == DType::kF32 || t.dtype() == DType::kF64, op, ": ", what, " has dtype ",
                 dtype_name(t.dtype()), "; expected f32 or f64");
  ATTNCAMP_CHECK(t.dtype() == dtype, op, ": ", what, " is ", dtype_name(t.dtype()), ", expected ", dtype_name(dtype));
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
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
  ATTNCAMP_CHECK(w.dim() == 2, op, ": w must be [out, in], got ", shape_str(w.shape()));
  const int64_t out = w.size(0), in = w.size(1);
  ATTNCAMP_CHECK(x.dim() >= 1 && x.size(-1) == in, op, ": x ", shape_str(x.shape()), " must be [..., ", in, "] for w ",
                 shape_str(w.shape()));
  ATTNCAMP_CHECK(y.shape() == with_last(x.shape(), out), op, ": ", y_name, " has shape ", shape_str(y.shape()),
                 ", expected ", shape_str(with_last(x.shape(), out)));
  const int64_t rows = in == 0 ? y.numel() / std::max<int64_t>(out, 1) : x.numel() / in;
  return {rows, in, out};
}

void check_bias_shape(const char* op, const char* what, const Tensor& b, int64_t out) {
  ATTNCAMP_CHECK(b.shape() == Shape{out}, op, ": ", what, " has shape ", shape_str(b.shape()), ", expected [", out,
                 "]");
}

// Backward shape checks shared by both devices (dx, db only when defined).
Dims check_backward_shapes(const char* op, const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& dx,
                           const Tensor& dw, const Tensor& db) {
  const Dims d = check_shapes(op, x, w, dy, "dy");
  ATTNCAMP_CHECK(dw.shape() == w.shape(), op, ": dw has shape ", shape_str(dw.shape()), ", expected ",
                 shape_str(w.shape()));
  if (dx.defined()) {
    ATTNCAMP_CHECK(dx.shape() == x.shape(), op, ": dx has shape ", shape_str(dx.shape()), ", expected ",
                   shape_str(x.shape()));
  }
  if (db.defined()) check_bias_shape(op, "db", db, d.out);
  return d;
}

#ifdef ATTNCAMP_WITH_CUDA
// CUDA rule: activations share x's dtype (f32, bf16 or f16); parameters (b) and their gradients
// (dw, db) are f32. `param` selects the rule.
void check_cuda_arg(const Tensor& t, const char* op, const char* what, DType act, bool param) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  if (param) {
    ATTNCAMP_CHECK(t.dtype() == DType::kF32, op, ": ", what, " has dtype ", dtype_name(t.dtype()),
                   "; on CUDA parameters and their gradients are f32");
  } else {
    check_cuda_activation(op, what, t);
    ATTNCAMP_CHECK(t.dtype() == act, op, ": ", what, " is ", dtype_name(t.dtype()), ", expected ", dtype_name(act),
                   " (x's dtype)");
  }
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
}

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

// Checks a CUDA forward call (linear or linear_gelu: `pre` undefined for plain linear).
Dims check_cuda_forward(const char* op, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& pre,
                        const Tensor& y) {
  ATTNCAMP_CHECK(x.defined(), op, ": x is undefined");
  const DType act = x.dtype();
  check_cuda_arg(x, op, "x", act, false);
  check_cuda_arg(w, op, "w", act, false);
  check_cuda_arg(y, op, "y", act, false);
  const Dims d = check_shapes(op, x, w, y, "y");
  if (pre.defined()) {
    check_cuda_arg(pre, op, "pre", act, false);
    ATTNCAMP_CHECK(pre.shape() == y.shape(), op, ": pre has shape ", shape_str(pre.shape()), ", expected ",
                   shape_str(y.shape()));
  }
  if (b.defined()) {
    check_cuda_arg(b, op, "b", act, true);
    check_bias_shape(op, "b", b, d.out);
  }
  return d;
}

Dims check_cuda_backward(const char* op, const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& dx,
                         const Tensor& dw, const Tensor& db) {
  ATTNCAMP_CHECK(x.defined(), op, ": x is undefined");
  const DType act = x.dtype();
  check_cuda_arg(x, op, "x", act, false);
  check_cuda_arg(w, op, "w", act, false);
  check_cuda_arg(dy, op, "dy", act, false);
  check_cuda_arg(dw, op, "dw", act, true);
  if (dx.defined()) check_cuda_arg(dx, op, "dx", act, false);
  if (db.defined()) check_cuda_arg(db, op, "db", act, true);
  return check_backward_shapes(op, dy, x, w, dx, dw, db);
}

const float* f32_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
float* f32_or_null(Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
void* raw_or_null(Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
#endif

}  // namespace

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const char* op = "linear_forward";
  if (on_cuda(op, {&x, &w, &b, &y})) {
#ifdef ATTNCAMP_WITH_CUDA
    const Dims d = check_cuda_forward(op, x, w, b, Tensor(), y);
    cuda::linear_forward(cuda_params(d, x, w), f32_or_null(b), y.raw_data(), y.device().index);
#endif
    return;
  }
  check_arg(x, op, "x", x.dtype());
  check_arg(w, op, "w", x.dtype());
  check_arg(y, op, "y", x.dtype());
  const Dims d = check_shapes(op, x, w, y, "y");
  if (b.defined()) {
    check_arg(b, op, "b", x.dtype());
    check_bias_shape(op, "b", b, d.out);
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
  if (on_cuda(op, {&dy, &x, &w, &dx, &dw, &db})) {
#ifdef ATTNCAMP_WITH_CUDA
    const Dims d = check_cuda_backward(op, dy, x, w, dx, dw, db);
    cuda::linear_backward(cuda_params(d, x, w), dy.raw_data(), raw_or_null(dx), dw.data<float>(), f32_or_null(db),
                          x.device().index);
#endif
    return;
  }
  check_arg(x, op, "x", x.dtype());
  check_arg(w, op, "w", x.dtype());
  check_arg(dy, op, "dy", x.dtype());
  check_arg(dw, op, "dw", x.dtype());
  if (dx.defined()) check_arg(dx, op, "dx", x.dtype());
  if (db.defined()) check_arg(db, op, "db", x.dtype());
  const Dims d = check_backward_shapes(op, dy, x, w, dx, dw, db);
  const Tensor dy2 = dy.view({d.rows, d.out});
  if (dx.defined()) gemm(dy2, false, w, false, dx.view({d.rows, d.in}));
  gemm(dy2, true, x.view({d.rows, d.in}), false, dw, 1.0, 1.0);
  if (db.defined()) bias_add_backward(dy2, db);
}

void linear_gelu_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& pre, Tensor& y) {
  const char* op = "linear_gelu_forward";
  if (on_cuda(op, {&x, &w, &b, &pre, &y})) {
#ifdef ATTNCAMP_WITH_CUDA
    ATTNCAMP_CHECK(pre.defined(), op, ": pre is undefined");
    const Dims d = check_cuda_forward(op, x, w, b, pre, y);
    cuda::linear_gelu_forward(cuda_params(d, x, w), f32_or_null(b), pre.raw_data(), y.raw_data(), y.device().index);
#endif
    return;
  }
  check_arg(x, op, "x", x.dtype());
  check_arg(pre, op, "pre", x.dtype());
  check_arg(y, op, "y", x.dtype());
  ATTNCAMP_CHECK(y.shape() == pre.shape(), op, ": y has shape ", shape_str(y.shape()), ", expected pre's ",
                 shape_str(pre.shape()));
  linear_forward(x, w, b, pre);
  gelu_forward(pre, y);
}

void linear_gelu_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& pre, Tensor& dx, Tensor& dw,
                          Tensor& db) {
  const char* op = "linear_gelu_backward";
  if (on_cuda(op, {&dy, &x, &w, &pre, &dx, &dw, &db})) {
#ifdef ATTNCAMP_WITH_CUDA
    const Dims d = check_cuda_backward(op, dy, x, w, dx, dw, db);
    check_cuda_arg(pre, op, "pre", x.dtype(), false);
    ATTNCAMP_CHECK(pre.shape() == dy.shape(), op, ": pre has shape ", shape_str(pre.shape()), ", expected dy's ",
                   shape_str(dy.shape()));
    cuda::linear_gelu_backward(cuda_params(d, x, w), dy.raw_data(), pre.raw_data(), raw_or_null(dx), dw.data<float>(),
                               f32_or_null(db), x.device().index);
#endif
    return;
  }
  check_arg(x, op, "x", x.dtype());
  check_arg(dy, op, "dy", x.dtype());
  check_arg(pre, op, "pre", x.dtype());
  ATTNCAMP_CHECK(pre.shape() == dy.shape(), op, ": pre has shape ", shape_str(pre.shape()), ", expected dy's ",
                 shape_str(dy.shape()));
  Tensor dpre = Tensor::empty(pre.shape(), pre.dtype());
  gelu_backward(pre, dy, dpre);
  linear_backward(dpre, x, w, dx, dw, db);
}

}  // namespace attncamp::ops
