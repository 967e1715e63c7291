// DeviceFeeder: order, contents and buffer recycling on the CPU; on a GPU the uploaded batches
// (side stream, pinned host buffers, depth-ahead ring) equal the host batches, including a last
// batch of another shape, and pinned host tensors round-trip through copy_from_async. Detection
// batches (every tensor field, box counts changing from batch to batch, batches without boxes)
// arrive intact with their host batch beside them, on the CPU and on a GPU.
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

// Detection-like batch b: B = 1 for every third batch (2 otherwise) samples of 4 x 4 pixels and
// M = 5b mod 7 boxes (0 for b = 0 and 7), split over the samples; every value encodes (b, index).
int64_t det_rows(int64_t b) { return b % 3 == 2 ? 1 : 2; }
int64_t det_boxes(int64_t b) { return b * 5 % 7; }

Batch make_detection_batch(int64_t b, TensorPool& pool) {
  const int64_t rows = det_rows(b), m = det_boxes(b);
  Batch out;
  out.number = b;
  for (int64_t i = 0; i < rows; ++i) out.indices.push_back(b * 1000 + i);
  out.inputs = pool.take({rows, 4, 4, 3}, DType::kU8);
  for (int64_t j = 0; j < out.inputs.numel(); ++j)
    out.inputs.data<uint8_t>()[j] = static_cast<uint8_t>((b * 31 + j) % 251);
  out.mask = Tensor::empty({rows, 4, 4}, DType::kU8);
  for (int64_t j = 0; j < out.mask.numel(); ++j) out.mask.data<uint8_t>()[j] = static_cast<uint8_t>((b + j) % 2);
  out.box_offsets = Tensor::empty({rows + 1}, DType::kI64);
  for (int64_t i = 0; i <= rows; ++i) out.box_offsets.data<int64_t>()[i] = m * i / rows;
  out.boxes = Tensor::empty({m, 4}, DType::kF32);
  for (int64_t j = 0; j < 4 * m; ++j)
    out.boxes.data<float>()[j] = static_cast<float>(b * 1000) + 0.5f * static_cast<float>(j);
  out.box_labels = Tensor::empty({m}, DType::kI32);
  for (int64_t j = 0; j < m; ++j) out.box_labels.data<int32_t>()[j] = static_cast<int32_t>(b * 100 + j);
  return out;
}

// Expects every field of detection batch b on `device` (labels undefined) and its host batch on
// the CPU, both with the values make_detection_batch wrote.
void expect_detection_batch(const Batch& got, int64_t b, Device device) {
  const int64_t rows = det_rows(b), m = det_boxes(b);
  ASSERT_EQ(got.number, b);
  ASSERT_EQ(got.indices.size(), static_cast<size_t>(rows));
  EXPECT_FALSE(got.labels.defined()) << "batch " << b;
  ASSERT_NE(got.host, nullptr) << "batch " << b;
  EXPECT_EQ(got.host->number, b);
  EXPECT_EQ(got.host->indices, got.indices);
  EXPECT_EQ(got.host->host, nullptr);
  for (const Batch* x : {&got, got.host.get()}) {
    const bool on_host = x == got.host.get();
    SCOPED_TRACE(std::string("batch ") + std::to_string(b) + (on_host ? " (host batch)" : ""));
    x->for_each_tensor([&](const char* name, const Tensor& t) {
      if (t.defined()) {
        EXPECT_EQ(t.device(), on_host ? Device::cpu() : device) << name;
      }
    });
    const Tensor in = x->inputs.to(Device::cpu()), mask = x->mask.to(Device::cpu());
    const Tensor offsets = x->box_offsets.to(Device::cpu()), boxes = x->boxes.to(Device::cpu());
    const Tensor labels = x->box_labels.to(Device::cpu());
    ASSERT_EQ(in.shape(), (Shape{rows, 4, 4, 3}));
    ASSERT_EQ(mask.shape(), (Shape{rows, 4, 4}));
    ASSERT_EQ(offsets.shape(), (Shape{rows + 1}));
    ASSERT_EQ(boxes.shape(), (Shape{m, 4}));
    ASSERT_EQ(labels.shape(), (Shape{m}));
    for (int64_t j = 0; j < in.numel(); ++j) ASSERT_EQ(in.data<uint8_t>()[j], (b * 31 + j) % 251) << "inputs " << j;
    for (int64_t j = 0; j < mask.numel(); ++j) ASSERT_EQ(mask.data<uint8_t>()[j], (b + j) % 2) << "mask " << j;
    for (int64_t i = 0; i <= rows; ++i) ASSERT_EQ(offsets.data<int64_t>()[i], m * i / rows) << "box_offsets " << i;
    for (int64_t j = 0; j < 4 * m; ++j) ASSERT_EQ(boxes.data<float>()[j], b * 1000 + 0.5 * j) << "boxes " << j;
    for (int64_t j = 0; j < m; ++j) ASSERT_EQ(labels.data<int32_t>()[j], b * 100 + j) << "box_labels " << j;
  }
}

std::unique_ptr<DeviceFeeder> detection_feeder_for(Device device, int64_t batches, TensorPool& pool, Counting& c,
                                                   int depth) {
  return std::make_unique<DeviceFeeder>(
      device,
      [&, batches](Batch& out) {
        if (c.produced == batches) return false;
        out = make_detection_batch(c.produced++, pool);
        return true;
      },
      [&](Batch&& b) {
        ++c.recycled;
        pool.give(std::move(b.inputs));
      },
      depth);
}

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

TEST(DeviceFeeder, CpuHandsDetectionBatchesThroughWithTheirHostBatch) {
  TensorPool pool;
  Counting c;
  const auto feeder = detection_feeder_for(Device::cpu(), 9, pool, c, 2);
  Batch got;
  for (int64_t b = 0; b < 9; ++b) {
    ASSERT_TRUE(feeder->next(got));
    expect_detection_batch(got, b, Device::cpu());
    EXPECT_EQ(got.host->boxes.raw_data(), got.boxes.raw_data()) << "the CPU path copies nothing";
    EXPECT_EQ(c.recycled, b);
  }
  EXPECT_FALSE(feeder->next(got));
  EXPECT_EQ(c.recycled, 9);
}

// The caller may keep a batch's host batch past the following next(): it is then left intact and
// not recycled (the feeder recycles only host batches nobody else holds).
TEST(DeviceFeeder, AHostBatchStillHeldIsNotRecycled) {
  TensorPool pool;
  Counting c;
  const auto feeder = detection_feeder_for(Device::cpu(), 3, pool, c, 1);
  Batch got;
  ASSERT_TRUE(feeder->next(got));
  const std::shared_ptr<const Batch> kept = got.host;
  ASSERT_TRUE(feeder->next(got));
  ASSERT_TRUE(feeder->next(got));
  EXPECT_EQ(c.recycled, 1) << "batch 0 is still held; batch 1 went back";
  Batch copy = *kept;
  copy.host = kept;
  expect_detection_batch(copy, 0, Device::cpu());
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

// Every tensor field arrives on the GPU, including box tensors whose size changes every batch and
// batches without boxes, with inputs from pinned memory (copied directly) or pageable memory
// (staged), and the host batch stays reachable beside the device copies.
TEST(DeviceFeederCuda, UploadsEveryFieldOfDetectionBatchesOfChangingSizes) {
  ATTNCAMP_REQUIRE_GPU();
  for (bool pinned : {true, false}) {
    for (int depth : {1, 2}) {
      SCOPED_TRACE(std::string(pinned ? "pinned" : "pageable") + " inputs, depth " + std::to_string(depth));
      TensorPool pool(16, pinned);
      Counting c;
      const auto feeder = detection_feeder_for(Device::cuda(0), 10, pool, c, depth);
      Batch got;
      std::set<const void*> mask_buffers;
      for (int64_t b = 0; b < 10; ++b) {
        ASSERT_TRUE(feeder->next(got));
        expect_detection_batch(got, b, Device::cuda(0));
        if (det_rows(b) == 2) mask_buffers.insert(got.mask.raw_data());
        // Overwrite every device field on the compute stream: the next upload into this slot must
        // wait for that (the `used` event).
        got.for_each_tensor([](const char*, Tensor& t) {
          if (t.defined()) t.fill(7);
        });
      }
      EXPECT_FALSE(feeder->next(got));
      EXPECT_EQ(c.recycled, 10);
      EXPECT_LE(mask_buffers.size(), static_cast<size_t>(depth + 2)) << "device buffers of one shape are reused";
    }
  }
}

TEST(DeviceFeederCuda, NamesAFieldThatIsNotOnTheHost) {
  ATTNCAMP_REQUIRE_GPU();
  TensorPool pool;
  DeviceFeeder feeder(Device::cuda(0), [&](Batch& out) {
    out = make_detection_batch(1, pool);
    out.boxes = out.boxes.to(Device::cuda(0));
    return true;
  });
  Batch got;
  try {
    feeder.next(got);
    FAIL() << "a device tensor in a host batch was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("boxes of batch 1 must be a contiguous host tensor"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace attncamp::data
