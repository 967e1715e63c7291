// configs/vit_s16_imagenet.pbtxt, the DeiT-S-style ImageNet recipe, as a user runs it: the real
// 109-image ImageNet sample (../shared/data/imagenet) converted with `attncamp convert imagenet`
// as the config's comment says, then a few training steps on the CPU through the loader
// (random-resized-crop and flip, per-channel normalisation) and an evaluation through the
// resize-256 / centre-crop-224 path. Skips, saying so, without the fixture data.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "data/imagenet.h"
#include "launch/config.h"
#include "launch/trainer.h"
#include "tests/test_util.h"

namespace attncamp::launch {
namespace {

namespace fs = std::filesystem;

TEST(ImagenetRecipe, TrainsAFewStepsOnTheRealSample) {
  const std::string root = test::data_dir() + "/imagenet/sample_1perclass";
  if (!fs::exists(root + "/labels.tsv")) GTEST_SKIP() << root << "/labels.tsv not found (fixture data absent)";
  const std::string dir = test::temp_dir();
  data::ImagenetOptions o;
  o.input_dir = root;
  o.labels_file = root + "/labels.tsv";
  o.output = dir + "/sample.h5";
  o.size = 256;
  o.encoding = "jpeg";
  data::ConvertOptions conv;
  conv.threads = 2;
  ASSERT_EQ(data::convert_imagenet(o, conv).written, 109);

  const std::string path = test::source_dir() + "/configs/vit_s16_imagenet.pbtxt";
  const config::Experiment e = load_config(
      path, {"data.train_path=" + o.output, "data.test_path=" + o.output, "data.loader_threads=2", "trainer.device=cpu",
             "trainer.precision=fp32", "trainer.threads=2", "trainer.batch_size=8", "trainer.eval_batch_size=8",
             "trainer.max_steps=3", "trainer.eval_limit=16", "trainer.output_dir=" + dir + "/run"});
  // The recipe's lr follows the global batch: 5e-4 x 8 / 512.
  EXPECT_EQ(e.optimizer().lr_reference_batch(), 512);
  const TrainResult r = Trainer(e, path).run();
  ASSERT_EQ(r.step_losses.size(), 3u);
  for (double loss : r.step_losses) {
    EXPECT_TRUE(std::isfinite(loss));
    EXPECT_NEAR(loss, std::log(1000.0), 1.5);  // an untrained 1000-way classifier
  }
  EXPECT_EQ(r.final_eval.count, 16);
  EXPECT_TRUE(std::isfinite(r.final_eval.at("test/loss")));
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint.h5"));
}

}  // namespace
}  // namespace attncamp::launch
