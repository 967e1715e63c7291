// Tensor: a typed, strided view of shared storage on a device.
// Shapes and strides are in elements; views (view, slice) share storage, so
// parameters can be views into one flat buffer. Most kernels require
// contiguous tensors and check it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/dtype.h"
#include "runtime/error.h"

namespace attncamp {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

// Owned block of device memory; freed when the last tensor referencing it goes.
class Storage {
 public:
  // `pinned`: page-locked host memory (device must be the CPU; needs CUDA, see pinned_host_alloc).
  Storage(Device device, size_t bytes, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

 private:
  Device device_;
  size_t bytes_;
  bool pinned_;
  void* data_;
};

class Tensor {
 public:
  Tensor() = default;
  // Uninitialised contiguous tensor.
  static Tensor empty(const Shape& shape, DType dtype = DType::kF32, Device device = Device::cpu());
  // Uninitialised contiguous CPU tensor in page-locked memory, so copies to a GPU can overlap with
  // compute (copy_from_async). Throws in builds without CUDA or on machines without a driver.
  static Tensor empty_pinned(const Shape& shape, DType dtype);
  // Contiguous tensor filled with zeros.
  static Tensor zeros(const Shape& shape, DType dtype = DType::kF32, Device device = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int dim() const { return static_cast<int>(shape_.size()); }
  int64_t size(int d) const;
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  bool is_pinned() const { return storage_ != nullptr && storage_->pinned(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;

  // Typed pointer to the first element; checks that T matches dtype().
  template <typename T>
  T* data() const {
    ATTNCAMP_CHECK(DTypeOf<T>::value == dtype_, "tensor holds ", dtype_name(dtype_), ", accessed as ",
                   dtype_name(DTypeOf<T>::value));
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // Same storage, new shape (tensor must be contiguous; one dim may be -1).
  Tensor view(const Shape& shape) const;
  // Rows [start, end) along dimension 0 (shares storage).
  Tensor slice(int64_t start, int64_t end) const;
  // Deep copy into a new contiguous tensor on the same device.
  Tensor clone() const;
  // Copies elements from `src` (same shape and dtype; both contiguous; any devices).
  void copy_from(const Tensor& src);
  // The same copy, only queued on the calling thread's current stream of the CUDA side (see
  // device_copy_async): both tensors must stay alive and `src` unchanged until that stream has
  // passed it. Overlaps with the host only when the host side is pinned.
  void copy_from_async(const Tensor& src);
  // Contiguous copy of this tensor on `device` (a new tensor even when the device is the same).
  Tensor to(Device device) const;
  // Sets every element to `value` (CPU only; converts to the dtype).
  void fill(double value);
  // Sets every byte to 0xFF: NaN for floats, so unwritten outputs show in tests.
  void poison();

 private:
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  Shape strides_;
  DType dtype_ = DType::kF32;
};

// Throws unless `t` is contiguous and has exactly `shape` and `dtype`; `what` names it.
void check_tensor(const Tensor& t, const Shape& shape, DType dtype, const char* what);

}  // namespace attncamp
