// Tensor and Storage implementation: allocation, views and element-wise fills.
#include "runtime/tensor.h"

#include <cstring>
#include <sstream>

#include "runtime/allocator.h"
#include "runtime/half.h"

namespace attncamp {

#ifdef ATTNCAMP_WITH_CUDA
// runtime/cuda/fill.cu: asynchronous fills on the current stream of `device`.
void cuda_fill(void* p, DType dtype, int64_t n, double value, int device);
void cuda_memset(void* p, int byte, size_t bytes, int device);
#endif

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Storage::Storage(Device device, size_t bytes, bool pinned)
    : device_(device), bytes_(bytes), pinned_(pinned), data_(nullptr) {
  ATTNCAMP_CHECK(!pinned || device.is_cpu(), "pinned memory is host memory, not ", device.str());
  data_ = pinned ? pinned_host_alloc(bytes) : device_alloc(device, bytes);
}
Storage::~Storage() {
  if (pinned_) {
    pinned_host_free(data_);
  } else {
    device_free(device_, data_);
  }
}

static Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) ATTNCAMP_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  Tensor t;
  t.storage_ = std::make_shared<Storage>(device, static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype));
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  for (int64_t d : shape) ATTNCAMP_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  Tensor t;
  t.storage_ =
      std::make_shared<Storage>(Device::cpu(), static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), true);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (t.nbytes() == 0) return t;
  if (device.is_cpu()) {
    std::memset(t.raw_data(), 0, t.nbytes());
  } else {
#ifdef ATTNCAMP_WITH_CUDA
    cuda_memset(t.raw_data(), 0, t.nbytes(), device.index);
#endif
  }
  return t;
}

int64_t Tensor::size(int d) const {
  if (d < 0) d += dim();
  ATTNCAMP_CHECK(d >= 0 && d < dim(), "dimension ", d, " out of range for shape ", shape_str(shape_));
  return shape_[d];
}

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

void* Tensor::raw_data() const {
  ATTNCAMP_CHECK(storage_ != nullptr, "access to an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

Tensor Tensor::view(const Shape& shape) const {
  ATTNCAMP_CHECK(is_contiguous(), "view of a non-contiguous tensor");
  Shape s = shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      ATTNCAMP_CHECK(infer < 0, "view shape ", shape_str(shape), " has more than one -1");
      infer = static_cast<int>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    ATTNCAMP_CHECK(known > 0 && numel() % known == 0, "cannot view ", shape_str(shape_), " as ", shape_str(shape));
    s[infer] = numel() / known;
  }
  ATTNCAMP_CHECK(shape_numel(s) == numel(), "cannot view ", shape_str(shape_), " as ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::slice(int64_t start, int64_t end) const {
  ATTNCAMP_CHECK(dim() >= 1 && 0 <= start && start <= end && end <= shape_[0], "slice [", start, ",", end,
                 ") out of range for shape ", shape_str(shape_));
  Tensor t = *this;
  t.offset_ += start * strides_[0];
  t.shape_[0] = end - start;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device());
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  ATTNCAMP_CHECK(src.shape_ == shape_ && src.dtype_ == dtype_, "copy_from: shape/dtype mismatch ",
                 shape_str(src.shape_), " vs ", shape_str(shape_));
  ATTNCAMP_CHECK(is_contiguous() && src.is_contiguous(), "copy_from needs contiguous tensors");
  if (nbytes() > 0) device_copy(raw_data(), device(), src.raw_data(), src.device(), nbytes());
}

void Tensor::copy_from_async(const Tensor& src) {
  ATTNCAMP_CHECK(src.shape_ == shape_ && src.dtype_ == dtype_, "copy_from_async: shape/dtype mismatch ",
                 shape_str(src.shape_), " vs ", shape_str(shape_));
  ATTNCAMP_CHECK(is_contiguous() && src.is_contiguous(), "copy_from_async needs contiguous tensors");
  if (nbytes() > 0) device_copy_async(raw_data(), device(), src.raw_data(), src.device(), nbytes());
}

Tensor Tensor::to(Device device) const {
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

void Tensor::fill(double value) {
  ATTNCAMP_CHECK(is_contiguous(), "fill needs a contiguous tensor");
  const int64_t n = numel();
  if (!device().is_cpu()) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda_fill(raw_data(), dtype_, n, value, device().index);
    return;
#else
    ATTNCAMP_THROW("fill on ", device().str(), " needs CUDA, but this build has none");
#endif
  }
  switch (dtype_) {
    case DType::kF32: {
      float* p = data<float>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(value);
      break;
    }
    case DType::kF64: {
      double* p = data<double>();
      for (int64_t i = 0; i < n; ++i) p[i] = value;
      break;
    }
    case DType::kBF16: {
      BFloat16* p = data<BFloat16>();
      for (int64_t i = 0; i < n; ++i) p[i] = float_to_bf16(static_cast<float>(value));
      break;
    }
    case DType::kF16: {
      Float16* p = data<Float16>();
      for (int64_t i = 0; i < n; ++i) p[i] = float_to_f16(static_cast<float>(value));
      break;
    }
    case DType::kI32: {
      int32_t* p = data<int32_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int32_t>(value);
      break;
    }
    case DType::kI64: {
      int64_t* p = data<int64_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int64_t>(value);
      break;
    }
    case DType::kU8: {
      uint8_t* p = data<uint8_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(value);
      break;
    }
  }
}

void Tensor::poison() {
  ATTNCAMP_CHECK(is_contiguous(), "poison needs a contiguous tensor");
  if (nbytes() == 0) return;
  if (!device().is_cpu()) {
#ifdef ATTNCAMP_WITH_CUDA
    cuda_memset(raw_data(), 0xff, nbytes(), device().index);
    return;
#else
    ATTNCAMP_THROW("poison on ", device().str(), " needs CUDA, but this build has none");
#endif
  }
  std::memset(raw_data(), 0xff, nbytes());
}

void check_tensor(const Tensor& t, const Shape& shape, DType dtype, const char* what) {
  ATTNCAMP_CHECK(t.defined(), what, " is undefined");
  ATTNCAMP_CHECK(t.shape() == shape, what, " has shape ", shape_str(t.shape()), ", expected ", shape_str(shape));
  ATTNCAMP_CHECK(t.dtype() == dtype, what, " has dtype ", dtype_name(t.dtype()), ", expected ", dtype_name(dtype));
  ATTNCAMP_CHECK(t.is_contiguous(), what, " must be contiguous");
}

}  // namespace attncamp
