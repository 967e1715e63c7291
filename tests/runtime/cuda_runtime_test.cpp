// CUDA runtime pieces: on a machine without a GPU (or a build without CUDA),
// streams, events and device tensors must fail with a clear attncamp::Error,
// never crash; on a GPU the stream/event round trip and device allocation work.
#include <gtest/gtest.h>

#include "runtime/device.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace attncamp {
namespace {

TEST(CudaRuntime, NoDeviceGivesClearErrors) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present; this test covers GPU-less machines";
  EXPECT_THROW(Stream(0), Error);
  EXPECT_THROW(Event(0), Error);
  EXPECT_THROW(Tensor::empty({4}, DType::kF32, Device::cuda(0)), Error);
  Tensor host = Tensor::zeros({4});
  EXPECT_THROW(host.to(Device::cuda(0)), Error);
  Tensor back = host.to(Device::cpu());  // host to host always works
  EXPECT_EQ(back.shape(), host.shape());
  try {
    Stream s(0);
    FAIL() << "stream created without a device";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_FALSE(msg.empty());
  }
}

TEST(CudaRuntime, StreamEventRoundTripOnGpu) {
  if (!cuda_compiled()) GTEST_SKIP() << "this build has no CUDA support (ATTNCAMP_CUDA=OFF or no nvcc)";
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  Stream s(0);
  Event start(0), stop(0);
  start.record(s);
  Tensor t = Tensor::empty({1 << 20}, DType::kF32, Device::cuda(0));
  EXPECT_EQ(t.device(), Device::cuda(0));
  EXPECT_EQ(t.nbytes(), static_cast<size_t>(4 << 20));
  stop.record(s);
  stop.synchronize();
  EXPECT_GE(stop.elapsed_ms_since(start), 0.0f);
  Stream moved = std::move(s);
  moved.synchronize();
}

TEST(CudaRuntime, HostDeviceRoundTripOnGpu) {
  if (!cuda_compiled()) GTEST_SKIP() << "this build has no CUDA support (ATTNCAMP_CUDA=OFF or no nvcc)";
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  Tensor host = Tensor::empty({1000}, DType::kF32);
  for (int i = 0; i < 1000; ++i) host.data<float>()[i] = 0.5f * static_cast<float>(i) - 7.0f;
  Tensor dev = host.to(Device::cuda(0));
  Tensor dev2 = dev.to(Device::cuda(0));  // device to device
  Tensor back = dev2.to(Device::cpu());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(back.data<float>()[i], host.data<float>()[i]) << i;
}

}  // namespace
}  // namespace attncamp
