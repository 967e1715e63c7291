// Argument checks shared by the tensor-level ops (see ops/check.h): each builds one message,
// "<op>: <what> must be <rule>; got <value>".
#include "ops/check.h"

#include <vector>

namespace attncamp::ops {

std::string DTypeSet::str() const {
  std::vector<DType> members;
  for (unsigned d = 0; d < 32; ++d) {
    if ((bits_ >> d) & 1u) members.push_back(static_cast<DType>(d));
  }
  std::string s;
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) s += i + 1 == members.size() ? " or " : ", ";
    s += dtype_name(members[i]);
  }
  return s;
}

namespace {

// " (why)" when `why` is given, else nothing.
std::string because(const char* why) { return why != nullptr ? std::string(" (") + why + ")" : std::string(); }

}  // namespace

void check_defined(const char* op, const char* what, const Tensor& t) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " must be defined; got an undefined tensor");
}

void check_contiguous(const char* op, const char* what, const Tensor& t) {
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous; got strides ", shape_str(t.strides()),
                 " for shape ", shape_str(t.shape()));
}

void check_dtype_in(const char* op, const char* what, const Tensor& t, DTypeSet dtypes) {
  ATTNCAMP_CHECK(dtypes.contains(t.dtype()), op, ": ", what, " must be ", dtypes.str(), " on ", t.device().str(),
                 "; got ", dtype_name(t.dtype()));
}

void check_dtype(const char* op, const char* what, const Tensor& t, DType dtype, const char* why) {
  ATTNCAMP_CHECK(t.dtype() == dtype, op, ": ", what, " must be ", dtype_name(dtype), because(why), "; got ",
                 dtype_name(t.dtype()));
}

void check_shape(const char* op, const char* what, const Tensor& t, const Shape& shape, const char* why) {
  ATTNCAMP_CHECK(t.shape() == shape, op, ": ", what, " must have shape ", shape_str(shape), because(why), "; got ",
                 shape_str(t.shape()));
}

void check_dim(const char* op, const char* what, const Tensor& t, int dim, const char* layout) {
  ATTNCAMP_CHECK(t.dim() == dim, op, ": ", what, " must be ", layout, "; got ", shape_str(t.shape()));
}

void check_arg(const char* op, const char* what, const Tensor& t, DTypeSet dtypes) {
  check_defined(op, what, t);
  check_dtype_in(op, what, t, dtypes);
  check_contiguous(op, what, t);
}

void check_exact(const char* op, const char* what, const Tensor& t, const Shape& shape, DType dtype) {
  check_defined(op, what, t);
  check_shape(op, what, t, shape);
  check_dtype(op, what, t, dtype);
  check_contiguous(op, what, t);
}

void check_like(const char* op, const char* what, const Tensor& t, const Tensor& ref) {
  check_exact(op, what, t, ref.shape(), ref.dtype());
}

void check_activation(const char* op, const char* what, const Tensor& t, const Shape& shape, DType act, bool cuda) {
  if (!cuda) return check_exact(op, what, t, shape, act);
  check_defined(op, what, t);
  check_shape(op, what, t, shape);
  check_dtype_in(op, what, t, kCudaActivation);
  check_contiguous(op, what, t);
}

void check_activation_like(const char* op, const char* what, const Tensor& t, const Tensor& ref, bool cuda) {
  check_activation(op, what, t, ref.shape(), ref.dtype(), cuda);
}

void check_param(const char* op, const char* what, const Tensor& t, const Shape& shape, DType act, bool cuda) {
  check_defined(op, what, t);
  check_shape(op, what, t, shape);
  check_dtype(op, what, t, cuda ? DType::kF32 : act, cuda ? "on CUDA parameters are f32" : "the activations' dtype");
  check_contiguous(op, what, t);
}

Rows check_rows(const char* op, const char* what, const Tensor& t, DTypeSet dtypes) {
  check_arg(op, what, t, dtypes);
  ATTNCAMP_CHECK(t.dim() >= 1, op, ": ", what, " must be [..., C] (at least one dimension); got a scalar");
  Rows r;
  r.cols = t.size(-1);
  r.rows = r.cols == 0 ? 0 : t.numel() / r.cols;
  return r;
}

void check_logits(const char* op, const char* what, const Tensor& t, DTypeSet dtypes) {
  check_arg(op, what, t, dtypes);
  ATTNCAMP_CHECK(t.dim() == 2 && t.size(1) > 0, op, ": ", what, " must be [N,C] with C > 0; got ",
                 shape_str(t.shape()));
}

void check_class_labels(const char* op, const Tensor& labels, int64_t classes) {
  const int32_t* lab = labels.data<int32_t>();
  for (int64_t i = 0; i < labels.numel(); ++i) {
    if (lab[i] < -1 || lab[i] >= classes) {
      ATTNCAMP_THROW(op, ": label ", lab[i], " at index ", i, " is outside [0, ", classes,
                     ") (labels are class indices, or -1 for an ignored row)");
    }
  }
}

}  // namespace attncamp::ops
