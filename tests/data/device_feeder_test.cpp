// DeviceFeeder: order, contents and buffer recycling on the CPU; on a GPU the uploaded batches
// (side stream, pinned host buffers, depth-ahead ring) equal the host batches, including a last
// batch of another shape, and pinned host tensors round-trip through copy_from_async.
#include "data/device_feeder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "runtime/cuda_context.h"
#include "runtime/device.h"
#include "tests/cuda_test_util.h"

namespace attncamp::data {
namespace {

// Batch b has b + 1 rows for the last batch, `rows` otherwise; inputs u8 [r, 3, 5] with byte
// (b * 31 + i * 7 + j) % 251 and labels b * 100 + i.
Batch make_host_batch(int64_t b, int64_t rows, TensorPool& pool) {
  Batch out;
  out.number = b;
  out.inputs = pool.take({rows, 3, 5}, DType::kU8);
  out.labels = Tensor::empty({rows}, DType::kI32);
  for (int64_t i = 0; i < rows; ++i) {
    out.indices.push_back(b * 1000 + i);
    out.labels.data<int32_t>()[i] = static_cast<int32_t>(b * 100 + i);
    for (int64_t j = 0; j < 15; ++j)
      out.inputs.data<uint8_t>()[i * 15 + j] = static_cast<uint8_t>((b * 31 + i * 7 + j) % 251);
  }
  return out;
}

void expect_batch(const Batch& got, int64_t b, int64_t rows) {
  const Tensor in = got.inputs.device().is_cpu() ? got.inputs : got.inputs.to(Device::cpu());
  const Tensor lab = got.labels.device().is_cpu() ? got.labels : got.labels.to(Device::cpu());
  ASSERT_EQ(got.number, b);
  ASSERT_EQ(in.shape(), (Shape{rows, 3, 5}));
  ASSERT_EQ(lab.numel(), rows);
  ASSERT_EQ(got.indices.size(), static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    EXPECT_EQ(lab.data<int32_t>()[i], b * 100 + i) << "batch " << b << " row " << i;
    EXPECT_EQ(got.indices[static_cast<size_t>(i)], b * 1000 + i);
    for (int64_t j = 0; j < 15; ++j) {
      ASSERT_EQ(in.data<uint8_t>()[i * 15 + j], (b * 31 + i * 7 + j) % 251) << "batch " << b << " row " << i;
    }
  }
}

struct Counting {
  int64_t produced = 0, recycled = 0;
};

std::unique_ptr<DeviceFeeder> feeder_for(Device device, int64_t batches, int64_t rows, TensorPool& pool, Counting& c,
                                         int depth) {
  return std::make_unique<DeviceFeeder>(
      device,
      [&, batches, rows](Batch& out) {
        if (c.produced == batches) return false;
        const int64_t b = c.produced++;
        out = make_host_batch(b, b + 1 == batches ? rows - 1 : rows, pool);
        return true;
      },
      [&](Batch&& b) {
        ++c.recycled;
        pool.give(std::move(b.inputs));
      },
      depth);
}

TEST(DeviceFeeder, CpuHandsBatchesThroughInOrderAndRecyclesThePreviousOne) {
  TensorPool pool;
  Counting c;
  const auto feeder = feeder_for(Device::cpu(), 5, 4, pool, c, 2);
  Batch got;
  const void* first = nullptr;
  for (int64_t b = 0; b < 5; ++b) {
    ASSERT_TRUE(feeder->next(got));
    expect_batch(got, b, b == 4 ? 3 : 4);
    EXPECT_EQ(c.produced, b + 1) << "the CPU path does not read ahead";
    EXPECT_EQ(c.recycled, b) << "batch b-1 goes back when batch b is asked for";
    if (b == 0) first = got.inputs.raw_data();
    if (b == 1) {
      EXPECT_EQ(got.inputs.raw_data(), first) << "batch 1 reuses batch 0's recycled buffer";
    }
  }
  EXPECT_FALSE(feeder->next(got));
  EXPECT_EQ(c.recycled, 5);
}

TEST(DeviceFeeder, RejectsZeroDepthAndMissingProducer) {
  EXPECT_THROW(DeviceFeeder(
                   Device::cpu(), [](Batch&) { return false; }, {}, 0),
               Error);
  EXPECT_THROW(DeviceFeeder(Device::cpu(), DeviceFeeder::Produce{}), Error);
}

TEST(DeviceFeeder, PinnedMemoryNeedsCudaWithoutOne) {
  if (cuda_compiled() && cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present: pinned memory works here";
  try {
    (void)Tensor::empty_pinned({4}, DType::kF32);
    FAIL() << "pinned memory without CUDA did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

TEST(DeviceFeederCuda, PinnedTensorsRoundTripAsynchronously) {
  ATTNCAMP_REQUIRE_GPU();
  Tensor host = Tensor::empty_pinned({1000}, DType::kF32);
  EXPECT_TRUE(host.is_pinned());
  for (int i = 0; i < 1000; ++i) host.data<float>()[i] = static_cast<float>(i) * 0.5f;
  Tensor dev = Tensor::empty({1000}, DType::kF32, Device::cuda(0));
  dev.copy_from_async(host);
  Tensor back = Tensor::empty_pinned({1000}, DType::kF32);
  back.copy_from_async(dev);
  cuda_synchronize(0);
  EXPECT_EQ(std::memcmp(back.raw_data(), host.raw_data(), host.nbytes()), 0);
}

TEST(DeviceFeederCuda, UploadsAheadFromPinnedBuffersAndDeliversEveryBatchIntact) {
  ATTNCAMP_REQUIRE_GPU();
  for (int depth : {1, 2, 3}) {
    SCOPED_TRACE("depth " + std::to_string(depth));
    TensorPool pool(16, /*pinned=*/true);
    Counting c;
    const auto feeder = feeder_for(Device::cuda(0), 9, 6, pool, c, depth);
    Batch got;
    std::set<const void*> device_buffers;
    for (int64_t b = 0; b < 9; ++b) {
      ASSERT_TRUE(feeder->next(got));
      EXPECT_FALSE(got.inputs.device().is_cpu());
      EXPECT_EQ(c.produced, std::min<int64_t>(9, b + 1 + depth)) << "uploads run `depth` batches ahead";
      // Overwrite the batch on the compute stream after checking it: the next upload into this
      // slot must wait for that (the `used` event), or a later batch would read wrong bytes.
      expect_batch(got, b, b == 8 ? 5 : 6);
      got.inputs.fill(0);
      device_buffers.insert(got.inputs.raw_data());
    }
    EXPECT_FALSE(feeder->next(got));
    EXPECT_EQ(c.recycled, 9);
    EXPECT_LE(device_buffers.size(), static_cast<size_t>(depth + 2)) << "device slots are reused";
  }
}

}  // namespace
}  // namespace attncamp::data
