// CPU linear layer: checks shapes, then composes the OpenBLAS GEMM (ops/gemm.h) with the
// bias broadcast / deterministic column sum (ops/bias_add.h). Leading dims of x and y are
// flattened into rows, so [B,S,in] inputs run as one [B*S, in] GEMM.
#include "ops/linear.h"

#include <algorithm>

#include "ops/bias_add.h"
#include "ops/gemm.h"

namespace attncamp::ops {
namespace {

void check_arg(const Tensor& t, const char* op, const char* what, DType dtype) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  if (!t.device().is_cpu()) ATTNCAMP_THROW("op ", op, " is not implemented on ", t.device().str(), " yet");
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

}  // namespace

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const char* op = "linear_forward";
  check_arg(x, op, "x", x.dtype());
  check_arg(w, op, "w", x.dtype());
  check_arg(y, op, "y", x.dtype());
  ATTNCAMP_CHECK(w.dim() == 2, op, ": w must be [out, in], got ", shape_str(w.shape()));
  const int64_t out = w.size(0), in = w.size(1);
  ATTNCAMP_CHECK(x.dim() >= 1 && x.size(-1) == in, op, ": x ", shape_str(x.shape()), " must be [..., ", in, "] for w ",
                 shape_str(w.shape()));
  ATTNCAMP_CHECK(y.shape() == with_last(x.shape(), out), op, ": y has shape ", shape_str(y.shape()), ", expected ",
                 shape_str(with_last(x.shape(), out)));
  if (b.defined()) {
    check_arg(b, op, "b", x.dtype());
    ATTNCAMP_CHECK(b.shape() == Shape{out}, op, ": b has shape ", shape_str(b.shape()), ", expected [", out, "]");
  }
  const int64_t rows = in == 0 ? y.numel() / std::max<int64_t>(out, 1) : x.numel() / in;
  Tensor y2 = y.view({rows, out});
  if (b.defined()) {
    // Bias first, then the GEMM accumulates onto it (beta = 1): one pass over y instead of three.
    bias_fill(y2, b);
    gemm(x.view({rows, in}), false, w, true, y2, 1.0, 1.0);
  } else {
    gemm(x.view({rows, in}), false, w, true, y2);
  }
}

void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw, Tensor& db) {
  const char* op = "linear_backward";
  check_arg(x, op, "x", x.dtype());
  check_arg(w, op, "w", x.dtype());
  check_arg(dy, op, "dy", x.dtype());
  check_arg(dw, op, "dw", x.dtype());
  ATTNCAMP_CHECK(w.dim() == 2, op, ": w must be [out, in], got ", shape_str(w.shape()));
  const int64_t out = w.size(0), in = w.size(1);
  ATTNCAMP_CHECK(x.dim() >= 1 && x.size(-1) == in, op, ": x ", shape_str(x.shape()), " must be [..., ", in, "] for w ",
                 shape_str(w.shape()));
  ATTNCAMP_CHECK(dy.shape() == with_last(x.shape(), out), op, ": dy has shape ", shape_str(dy.shape()), ", expected ",
                 shape_str(with_last(x.shape(), out)));
  ATTNCAMP_CHECK(dw.shape() == w.shape(), op, ": dw has shape ", shape_str(dw.shape()), ", expected ",
                 shape_str(w.shape()));
  const int64_t rows = in == 0 ? dy.numel() / std::max<int64_t>(out, 1) : x.numel() / in;
  const Tensor dy2 = dy.view({rows, out});
  if (dx.defined()) {
    check_arg(dx, op, "dx", x.dtype());
    ATTNCAMP_CHECK(dx.shape() == x.shape(), op, ": dx has shape ", shape_str(dx.shape()), ", expected ",
                   shape_str(x.shape()));
    gemm(dy2, false, w, false, dx.view({rows, in}));
  }
  gemm(dy2, true, x.view({rows, in}), false, dw, 1.0, 1.0);
  if (db.defined()) {
    check_arg(db, op, "db", x.dtype());
    ATTNCAMP_CHECK(db.shape() == Shape{out}, op, ": db has shape ", shape_str(db.shape()), ", expected [", out, "]");
    bias_add_backward(dy2, db);
  }
}

}  // namespace attncamp::ops
