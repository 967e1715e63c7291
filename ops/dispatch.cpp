// Device checks shared by the tensor-level ops (see ops/dispatch.h).
#include "ops/dispatch.h"

namespace attncamp::ops {

bool on_cuda(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (t == nullptr || !t->defined()) continue;
    if (first == nullptr) {
      first = t;
      continue;
    }
    ATTNCAMP_CHECK(t->device() == first->device(), "op ", op, ": tensors are on different devices (",
                   first->device().str(), " and ", t->device().str(), ")");
  }
  if (first == nullptr || first->device().is_cpu()) return false;
#ifdef ATTNCAMP_WITH_CUDA
  return true;
#else
  ATTNCAMP_THROW("op ", op, " on ", first->device().str(),
                 " needs CUDA, but this build has none (configure with -DATTNCAMP_CUDA=ON)");
#endif
}

void check_cuda_activation(const char* op, const char* what, const Tensor& t) {
  ATTNCAMP_CHECK(t.dtype() == DType::kF32 || t.dtype() == DType::kBF16 || t.dtype() == DType::kF16, "op ", op, ": ",
                 what, " has dtype ", dtype_name(t.dtype()), "; on CUDA expected f32, bf16 or f16");
}

void check_cuda_arg(const Tensor& t, const Tensor* ref, const char* op, const char* what) {
  ATTNCAMP_CHECK(t.defined(), op, ": ", what, " is undefined");
  check_cuda_activation(op, what, t);
  ATTNCAMP_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
  if (ref) {
    ATTNCAMP_CHECK(t.shape() == ref->shape(), op, ": ", what, " has shape ", shape_str(t.shape()), ", expected ",
                   shape_str(ref->shape()));
  }
}

}  // namespace attncamp::ops
