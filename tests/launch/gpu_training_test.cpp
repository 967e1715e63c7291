// Training on the GPU against the CPU: the first steps of the tiny ViT give the same losses on
// CUDA in fp32 (float reordering only), bf16 (within bf16 rounding) and loss-scaled f16, and so
// do the first steps of the ViT-S/16 configuration in bf16; plus the device/precision rules that
// need no GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "launch/config.h"
#include "launch/precision.h"
#include "launch/trainer.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

namespace attncamp::launch {
namespace {

// A small ViT on synthetic 16x16 RGB data; `device` and `precision` as given.
config::Experiment tiny(const std::string& out, const std::string& device, const std::string& precision) {
  const std::string text = R"(name: "gpu_tiny"
model { vit { image_size: 16 in_channels: 3 patch_size: 4 dim: 64 depth: 2 heads: 2 mlp_dim: 128
              num_classes: 10 pool: CLS_TOKEN label_smoothing: 0.1 } }
data { classification { synthetic_samples: 256 mean: 0.5 std: 0.25 } }
optimizer { kind: ADAMW lr: 1e-3 weight_decay: 0.05 schedule: CONSTANT }
trainer { epochs: 1 batch_size: 32 max_steps: 6 seed: 3 threads: 2 output_dir: ")" +
                           out + R"(" }
)";
  return parse_config_text(text, "gpu_tiny.pbtxt", {"trainer.device=" + device, "trainer.precision=" + precision});
}

TEST(GpuTraining, CpuRejectsLowPrecisionAndBadDevices) {
  test::expect_error([] { precision_from(tiny(test::temp_dir(), "cpu", "bf16"), "x.pbtxt"); },
                     {"x.pbtxt", "trainer.precision", "bf16", "cuda"});
  test::expect_error([] { parse_device("cuda:x", "x.pbtxt"); }, {"x.pbtxt", "trainer.device", "cuda:x"});
  EXPECT_EQ(parse_device("cpu", "x"), Device::cpu());
  const Precision p = precision_from(tiny(test::temp_dir(), "cpu", ""), "x");
  EXPECT_EQ(p.compute, DType::kF32);
  EXPECT_EQ(p.name, "fp32");
  if (test::gpu_unavailable_reason().empty()) return;
  // Without a GPU (or CUDA build), asking for one names the field and why.
  test::expect_error([] { parse_device("cuda", "x.pbtxt"); }, {"x.pbtxt", "trainer.device", "cuda"});
}

TEST(GpuTraining, SyntheticDataLearnsOnCpu) {
  const TrainResult r = Trainer(tiny(test::temp_dir(), "cpu", "fp32"), "gpu_tiny.pbtxt").run();
  ASSERT_EQ(r.step_losses.size(), 6u);
  for (double l : r.step_losses) EXPECT_TRUE(std::isfinite(l));
  EXPECT_LT(r.step_losses.back(), r.step_losses.front());
}

// The per-step losses and the final evaluation loss of a GPU run agree with the CPU run's.
void expect_same_losses(const TrainResult& cpu, const TrainResult& gpu, const std::string& precision, double rel_tol) {
  ASSERT_EQ(cpu.step_losses.size(), gpu.step_losses.size());
  for (size_t i = 0; i < cpu.step_losses.size(); ++i) {
    EXPECT_NEAR(gpu.step_losses[i], cpu.step_losses[i], rel_tol * std::fabs(cpu.step_losses[i]))
        << precision << " step " << i + 1;
  }
  EXPECT_NEAR(gpu.final_eval.at("test/loss"), cpu.final_eval.at("test/loss"),
              2 * rel_tol * std::fabs(cpu.final_eval.at("test/loss")))
      << precision;
}

void compare_with_cpu(const std::string& precision, double rel_tol) {
  const TrainResult cpu = Trainer(tiny(test::temp_dir(), "cpu", "fp32"), "gpu_tiny.pbtxt").run();
  const TrainResult gpu = Trainer(tiny(test::temp_dir(), "cuda", precision), "gpu_tiny.pbtxt").run();
  expect_same_losses(cpu, gpu, precision, rel_tol);
}

TEST(GpuTraining, Fp32LossesMatchCpu) {
  ATTNCAMP_REQUIRE_GPU();
  compare_with_cpu("fp32", 1e-4);
}

TEST(GpuTraining, Bf16LossesMatchCpuWithinBf16) {
  ATTNCAMP_REQUIRE_GPU();
  // bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2%); activations pass through
  // ~20 roundings per step, so the loss may drift by about a percent over six steps.
  compare_with_cpu("bf16", 2e-2);
}

TEST(GpuTraining, Fp16WithLossScalingMatchesCpu) {
  ATTNCAMP_REQUIRE_GPU();
  compare_with_cpu("fp16", 1e-2);
}

// configs/vit_s16_synthetic.pbtxt itself (224x224, patch 16, dim 384, depth 12, heads 6, 1000
// classes), cut to batch 8 and 3 steps so the f32 CPU reference stays quick: bf16 on the GPU
// gives the CPU's losses within bf16 rounding.
TEST(GpuTraining, VitS16Bf16LossesMatchCpu) {
  ATTNCAMP_REQUIRE_GPU();
  auto run = [](const std::string& device, const std::string& precision) {
    const std::string path = test::source_dir() + "/configs/vit_s16_synthetic.pbtxt";
    return Trainer(load_config(path,
                               {"trainer.device=" + device, "trainer.precision=" + precision, "trainer.batch_size=8",
                                "trainer.eval_batch_size=8", "trainer.max_steps=3",
                                "data.classification.synthetic_samples=80", "trainer.output_dir=" + test::temp_dir()}),
                   path)
        .run();
  };
  const TrainResult cpu = run("cpu", "fp32");
  const TrainResult gpu = run("cuda", "bf16");
  ASSERT_EQ(cpu.step_losses.size(), 3u);
  expect_same_losses(cpu, gpu, "bf16 ViT-S/16", 2e-2);
}

}  // namespace
}  // namespace attncamp::launch
