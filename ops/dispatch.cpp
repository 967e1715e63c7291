// Device checks and the dtype dispatch's error shared by the tensor-level ops (see ops/dispatch.h).
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
  check_dtype_in(op, what, t, kCudaActivation);
}

namespace detail {

void throw_unsupported_dtype(const char* op, DType dtype, DTypeSet dtypes) {
  ATTNCAMP_THROW(op, ": dtype ", dtype_name(dtype), " has no kernel here; expected ", dtypes.str());
}

}  // namespace detail

}  // namespace attncamp::ops
