// Cases of the variable-size gathers (all_gatherv, gatherv) shared by the MPI and NCCL tests:
// per-rank input shapes (different counts, ranks with 0 elements, every rank empty, one rank
// holding everything), values that encode (rank, index) exactly in every dtype, and the exact
// check of a gathered result. Also the element access in any dtype the communicator tests use.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "runtime/communicator.h"
#include "runtime/half.h"

namespace attncamp::test {

inline double get(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kF32: return t.data<float>()[i];
    case DType::kF64: return t.data<double>()[i];
    case DType::kBF16: return bf16_to_float(t.data<BFloat16>()[i]);
    case DType::kF16: return f16_to_float(t.data<Float16>()[i]);
    case DType::kI32: return t.data<int32_t>()[i];
    case DType::kI64: return static_cast<double>(t.data<int64_t>()[i]);
    case DType::kU8: return t.data<uint8_t>()[i];
  }
  return 0;
}

inline void set(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DType::kF32: t.data<float>()[i] = static_cast<float>(v); break;
    case DType::kF64: t.data<double>()[i] = v; break;
    case DType::kBF16: t.data<BFloat16>()[i] = float_to_bf16(static_cast<float>(v)); break;
    case DType::kF16: t.data<Float16>()[i] = float_to_f16(static_cast<float>(v)); break;
    case DType::kI32: t.data<int32_t>()[i] = static_cast<int32_t>(v); break;
    case DType::kI64: t.data<int64_t>()[i] = static_cast<int64_t>(v); break;
    case DType::kU8: t.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
  }
}

const DType kGatherVDTypes[] = {DType::kF32, DType::kI64, DType::kU8, DType::kBF16};
constexpr int kGatherVCases = 4;

// Shape of rank r's input in case k (0 <= k < kGatherVCases) of a job of p ranks: 0: [5r + 1],
// all different; 1: [r + 2, 2, 3] on even ranks, [0, 2, 3] on odd ones; 2: [0] everywhere;
// 3: [4099] on the last rank, [0] elsewhere.
inline Shape gatherv_shape(int k, int r, int p) {
  switch (k) {
    case 0: return {5 * r + 1};
    case 1: return {r % 2 == 0 ? r + 2 : 0, 2, 3};
    case 2: return {0};
    default: return {r == p - 1 ? 4099 : 0};
  }
}

// Element i of rank r: r * 100000 + i in f32 and i64 (exact below 2^24), (61 r + i) % 251 in the
// 8-bit-mantissa and 8-bit dtypes (exact in u8, bf16, f16).
inline double gatherv_value(DType dt, int r, int64_t i) {
  const bool narrow = dt == DType::kU8 || dt == DType::kBF16 || dt == DType::kF16;
  return narrow ? static_cast<double>((61 * r + i) % 251) : static_cast<double>(r * 100000 + i);
}

// Rank r's input of case k (a host tensor).
inline Tensor gatherv_input(DType dt, int k, int r, int p) {
  Tensor t = Tensor::empty(gatherv_shape(k, r, p), dt);
  for (int64_t i = 0; i < t.numel(); ++i) set(t, i, gatherv_value(dt, r, i));
  return t;
}

// Expects `got` (data on any device) to hold every rank's input of case k in rank order.
inline void expect_gathered(const GatherVResult& got, DType dt, int k, int p, const std::string& what) {
  ASSERT_EQ(got.counts.size(), static_cast<size_t>(p)) << what;
  ASSERT_TRUE(got.data.defined()) << what;
  ASSERT_EQ(got.data.dtype(), dt) << what;
  const Tensor data = got.data.device().is_cpu() ? got.data : got.data.to(Device::cpu());
  int64_t total = 0;
  for (int q = 0; q < p; ++q) {
    ASSERT_EQ(got.counts[static_cast<size_t>(q)], shape_numel(gatherv_shape(k, q, p))) << what << " rank " << q;
    ASSERT_EQ(got.offset(q), total) << what << " rank " << q;
    total += got.counts[static_cast<size_t>(q)];
  }
  ASSERT_EQ(data.shape(), (Shape{total})) << what;
  for (int q = 0; q < p; ++q) {
    const int64_t offset = got.offset(q);
    for (int64_t i = 0; i < got.counts[static_cast<size_t>(q)]; ++i) {
      ASSERT_EQ(get(data, offset + i), gatherv_value(dt, q, i)) << what << " rank " << q << " element " << i;
    }
  }
}

// Expects the empty result of a non-root rank of gatherv.
inline void expect_empty_gather(const GatherVResult& got, DType dt, Device device, const std::string& what) {
  EXPECT_TRUE(got.counts.empty()) << what;
  ASSERT_TRUE(got.data.defined()) << what;
  EXPECT_EQ(got.data.shape(), (Shape{0})) << what;
  EXPECT_EQ(got.data.dtype(), dt) << what;
  EXPECT_EQ(got.data.device(), device) << what;
}

}  // namespace attncamp::test
