// Trainer tests on tiny synthetic data: learning happens, a run interrupted and
// resumed from its checkpoint reproduces the uninterrupted run's losses and
// parameters bit for bit, early stopping and best.h5 on the primary metric, kept
// checkpoints, schedule shape and the linear learning-rate scaling rule.
#include "launch/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/checkpoint.h"
#include "data/fashion_mnist.h"
#include "launch/config.h"
#include "launch/schedule.h"
#include "tests/test_util.h"
#include "tests/tiny_data.h"

namespace attncamp::launch {
namespace {

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = new std::string(test::temp_dir());
    test::write_tiny_fashion_mnist(*data_dir_, 256, 100);
    data::convert_fashion_mnist(*data_dir_, *data_dir_);
  }
  static void TearDownTestSuite() { delete data_dir_; }
  config::Experiment config(const std::string& out, std::vector<std::string> overrides = {}) {
    return parse_config_text(test::tiny_config_text(*data_dir_, out), "tiny.pbtxt", overrides);
  }
  static std::string* data_dir_;
};
std::string* TrainerTest::data_dir_ = nullptr;

// Streaming the training set through the prefetching loader (data.loader_threads) draws the same
// samples in the same order as reading the file whole: identical losses, for 1 and 3 threads; with
// data.augment the batches change and training still runs.
TEST_F(TrainerTest, StreamingLoaderMatchesInMemoryTraining) {
  const TrainResult whole = Trainer(config(test::temp_dir(), {"trainer.max_steps=6"}), "tiny.pbtxt").run();
  for (int threads : {1, 3}) {
    const TrainResult streamed =
        Trainer(config(test::temp_dir(), {"trainer.max_steps=6", "data.loader_threads=" + std::to_string(threads)}),
                "tiny.pbtxt")
            .run();
    ASSERT_EQ(streamed.step_losses.size(), whole.step_losses.size());
    for (size_t i = 0; i < whole.step_losses.size(); ++i) {
      EXPECT_EQ(streamed.step_losses[i], whole.step_losses[i]) << threads << " threads, step " << i + 1;
    }
    // The test set is streamed too (identity resize and crop at the model's size): same metrics.
    EXPECT_EQ(streamed.final_eval.count, whole.final_eval.count);
    EXPECT_EQ(streamed.final_eval.at("test/loss"), whole.final_eval.at("test/loss"));
    EXPECT_EQ(streamed.final_eval.at("test/top1"), whole.final_eval.at("test/top1"));
  }
  const TrainResult augmented = Trainer(config(test::temp_dir(), {"trainer.max_steps=6", "data.loader_threads=2",
                                                                  "data.classification.augment=true"}),
                                        "tiny.pbtxt")
                                    .run();
  ASSERT_EQ(augmented.step_losses.size(), whole.step_losses.size());
  EXPECT_NE(augmented.step_losses[1], whole.step_losses[1]);
  for (double l : augmented.step_losses) EXPECT_TRUE(std::isfinite(l));
}

TEST_F(TrainerTest, LearnsTinyData) {
  const std::string out = test::temp_dir();
  TrainResult r = Trainer(config(out, {"trainer.epochs=12"}), "tiny.pbtxt").run();
  ASSERT_EQ(r.epochs.size(), 12u);
  EXPECT_EQ(r.steps, 96);
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
  EXPECT_GT(r.final_eval.at("test/top1"), 0.5);  // chance is 0.1
  EXPECT_GE(r.final_eval.at("test/top5"), r.final_eval.at("test/top1"));
  EXPECT_EQ(r.final_eval.count, 100);
  EXPECT_TRUE(std::filesystem::exists(out + "/checkpoint.h5"));
  EXPECT_TRUE(std::filesystem::exists(out + "/config.pbtxt"));
  EXPECT_TRUE(std::filesystem::exists(out + "/metrics.jsonl"));
  // The effective config written next to the outputs loads again.
  EXPECT_NO_THROW(load_config(out + "/config.pbtxt"));
}

void expect_resume_matches(TrainerTest* t, const config::Experiment& full_cfg, const config::Experiment& part_cfg,
                           const config::Experiment& rest_cfg, const std::string& out_full, const std::string& out_part,
                           int64_t cut) {
  TrainResult full = Trainer(full_cfg, "tiny.pbtxt").run();
  TrainResult part = Trainer(part_cfg, "tiny.pbtxt").run();
  ASSERT_EQ(part.steps, cut);
  TrainResult rest = Trainer(rest_cfg, "tiny.pbtxt").run("auto");
  ASSERT_EQ(static_cast<int64_t>(part.step_losses.size() + rest.step_losses.size()),
            static_cast<int64_t>(full.step_losses.size()));
  for (size_t i = 0; i < part.step_losses.size(); ++i) EXPECT_EQ(part.step_losses[i], full.step_losses[i]) << i;
  for (size_t i = 0; i < rest.step_losses.size(); ++i) {
    EXPECT_EQ(rest.step_losses[i], full.step_losses[cut + i]) << "step " << cut + i + 1;
  }
  const data::CheckpointData a = data::read_checkpoint(out_full + "/checkpoint.h5");
  const data::CheckpointData b = data::read_checkpoint(out_part + "/checkpoint.h5");
  EXPECT_EQ(test::max_abs_diff(a.tensors.at("params"), b.tensors.at("params")), 0.0);
  EXPECT_EQ(test::max_abs_diff(a.tensors.at("optimizer/v"), b.tensors.at("optimizer/v")), 0.0);
  EXPECT_EQ(full.final_eval.at("test/top1"), rest.final_eval.at("test/top1"));
}

TEST_F(TrainerTest, ResumeMidEpochIsBitExact) {
  const std::string out_full = test::temp_dir(), out_part = test::temp_dir();
  expect_resume_matches(this, config(out_full), config(out_part, {"trainer.max_steps=5"}), config(out_part), out_full,
                        out_part, 5);
}

TEST_F(TrainerTest, ResumeAtEpochBoundaryIsBitExact) {
  const std::string out_full = test::temp_dir(), out_part = test::temp_dir();
  expect_resume_matches(this, config(out_full), config(out_part, {"trainer.max_steps=8"}), config(out_part), out_full,
                        out_part, 8);
}

// A checkpoint written before metrics had names (best_top1 instead of best_metric) still resumes,
// bit-exactly; only the best value starts afresh.
TEST_F(TrainerTest, ResumesACheckpointWrittenBeforeNamedMetrics) {
  const std::string out_full = test::temp_dir(), out_part = test::temp_dir();
  const TrainResult full = Trainer(config(out_full), "tiny.pbtxt").run();
  Trainer(config(out_part, {"trainer.max_steps=5"}), "tiny.pbtxt").run();
  data::CheckpointData c = data::read_checkpoint(out_part + "/checkpoint.h5");
  c.floats.erase("best_metric");
  c.strings.erase("best_metric_name");
  c.floats["best_top1"] = -1;
  data::write_checkpoint(out_part + "/checkpoint.h5", c);
  const TrainResult rest = Trainer(config(out_part), "tiny.pbtxt").run("auto");
  ASSERT_EQ(rest.step_losses.size() + 5, full.step_losses.size());
  for (size_t i = 0; i < rest.step_losses.size(); ++i) EXPECT_EQ(rest.step_losses[i], full.step_losses[5 + i]) << i;
  EXPECT_EQ(rest.final_eval.at("test/top1"), full.final_eval.at("test/top1"));
}

TEST_F(TrainerTest, EarlyStoppingStopsAfterPatience) {
  // lr so small that accuracy cannot improve after the first epoch.
  const std::string out = test::temp_dir();
  TrainResult r = Trainer(config(out, {"trainer.epochs=6", "trainer.early_stopping_patience=1", "optimizer.lr=1e-9",
                                       "optimizer.min_lr=0", "model.vit.dropout=0"}),
                          "tiny.pbtxt")
                      .run();
  EXPECT_TRUE(r.early_stopped);
  EXPECT_EQ(r.epochs.size(), 2u);
  EXPECT_EQ(r.primary_metric, "test/top1");
}

// Early stopping and best.h5 follow trainer.primary_metric; a loss is better when lower. best.h5
// is the checkpoint of the epoch with the best value: its parameters evaluate to that value.
TEST_F(TrainerTest, BestCheckpointFollowsThePrimaryMetric) {
  const std::string out = test::temp_dir();
  const config::Experiment cfg = config(out, {"trainer.epochs=4", "trainer.primary_metric=test/loss"});
  const TrainResult r = Trainer(cfg, "tiny.pbtxt").run();
  ASSERT_EQ(r.epochs.size(), 4u);
  EXPECT_EQ(r.primary_metric, "test/loss");
  double best = r.epochs[0].eval.at("test/loss");
  size_t best_epoch = 0;
  for (size_t i = 1; i < r.epochs.size(); ++i) {
    if (r.epochs[i].eval.at("test/loss") < best) {
      best = r.epochs[i].eval.at("test/loss");
      best_epoch = i;
    }
  }
  EXPECT_EQ(r.best_metric, best);
  const data::CheckpointData c = data::read_checkpoint(out + "/best.h5");
  EXPECT_EQ(c.ints.at("epoch"), static_cast<int64_t>(best_epoch) + 1);
  EXPECT_EQ(c.floats.at("best_metric"), best);
  EXPECT_EQ(c.strings.at("best_metric_name"), "test/loss");
  // Resuming from best.h5 continues from that epoch.
  const std::string again = test::temp_dir();
  const TrainResult rest =
      Trainer(config(again, {"trainer.epochs=4", "trainer.primary_metric=test/loss"}), "tiny.pbtxt")
          .run(out + "/best.h5");
  EXPECT_EQ(rest.epochs.size(), 4 - best_epoch - 1);
}

// trainer.keep_checkpoints N: checkpoint.h5 is the latest and the N latest are kept by step.
TEST_F(TrainerTest, KeepsTheLatestCheckpoints) {
  const std::string out = test::temp_dir();
  Trainer(config(out, {"trainer.epochs=4", "trainer.keep_checkpoints=2"}), "tiny.pbtxt").run();
  // 8 steps an epoch, a checkpoint every epoch: steps 8, 16, 24, 32; the last two are kept.
  EXPECT_FALSE(std::filesystem::exists(step_checkpoint_path(out, 8)));
  EXPECT_FALSE(std::filesystem::exists(step_checkpoint_path(out, 16)));
  ASSERT_TRUE(std::filesystem::exists(step_checkpoint_path(out, 24)));
  ASSERT_TRUE(std::filesystem::exists(step_checkpoint_path(out, 32)));
  const data::CheckpointData last = data::read_checkpoint(checkpoint_path(out));
  const data::CheckpointData kept = data::read_checkpoint(step_checkpoint_path(out, 32));
  EXPECT_EQ(last.ints.at("step"), 32);
  EXPECT_EQ(test::max_abs_diff(last.tensors.at("params"), kept.tensors.at("params")), 0.0);
  EXPECT_EQ(data::read_checkpoint(step_checkpoint_path(out, 24)).ints.at("step"), 24);
  // The default keeps only checkpoint.h5.
  const std::string one = test::temp_dir();
  Trainer(config(one, {"trainer.epochs=2"}), "tiny.pbtxt").run();
  EXPECT_FALSE(std::filesystem::exists(step_checkpoint_path(one, 16)));
  EXPECT_TRUE(std::filesystem::exists(checkpoint_path(one)));
}

TEST(Schedule, LinearScalingRule) {
  config::OptimizerConfig o;
  o.set_lr(5e-4f);
  EXPECT_DOUBLE_EQ(scaled_lr(o, 1024), static_cast<double>(5e-4f));
  o.set_lr_reference_batch(512);
  EXPECT_DOUBLE_EQ(scaled_lr(o, 1024), 2 * static_cast<double>(5e-4f));
  EXPECT_DOUBLE_EQ(scaled_lr(o, 128), static_cast<double>(5e-4f) / 4);
}

TEST(Schedule, WarmupThenCosine) {
  Schedule s;
  s.base_lr = 1.0;
  s.min_lr = 0.1;
  s.warmup_steps = 4;
  s.total_steps = 14;
  EXPECT_DOUBLE_EQ(s.lr(0), 0.25);
  EXPECT_DOUBLE_EQ(s.lr(3), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(4), 1.0);
  EXPECT_NEAR(s.lr(9), 0.55, 1e-12);
  EXPECT_NEAR(s.lr(14), 0.1, 1e-12);
  for (int i = 5; i < 14; ++i) EXPECT_LT(s.lr(i), s.lr(i - 1));
}

}  // namespace
}  // namespace attncamp::launch
