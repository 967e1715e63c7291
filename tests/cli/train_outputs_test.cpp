// What `attncamp train`, `eval` and `bench train` print when their output is not a terminal (as
// under Slurm or with output to a file): progress lines between epochs (every N steps or every T
// seconds), the epoch and final evaluation lines, evaluating best.h5, and the benchmark's rate.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "data/fashion_mnist.h"
#include "tests/test_util.h"
#include "tests/tiny_data.h"

namespace attncamp {
namespace {

namespace fs = std::filesystem;

class TrainOutputs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::temp_dir());
    test::write_tiny_fashion_mnist(*dir_, 256, 32);
    data::convert_fashion_mnist(*dir_, *dir_);
  }
  static void TearDownTestSuite() { delete dir_; }
  // A config file for the tiny data writing to `out`.
  static std::string config(const std::string& out) {
    const std::string path = test::temp_dir() + "/exp.pbtxt";
    std::ofstream(path) << test::tiny_config_text(*dir_, out);
    return path;
  }
  static int count(const std::string& text, const std::string& pattern) {
    const std::regex re(pattern);
    return static_cast<int>(std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
  }
  static std::string* dir_;
};
std::string* TrainOutputs::dir_ = nullptr;

// The line of step S of 4: epoch, step, loss, learning rate, rate and ETA.
std::string step_line(int step) {
  return "epoch 1/2 step " + std::to_string(step) + "/4 loss [0-9.]+ lr [0-9.e+-]+ [0-9]+ img/s ETA [0-9:]+\n";
}

TEST_F(TrainOutputs, ProgressLinesWhenNotATerminal) {
  const std::string cfg = config(test::temp_dir());
  // Every 2 steps.
  test::CommandResult r =
      test::run_attncamp("train --config " + cfg + " --set trainer.max_steps=4" + " --set trainer.log_every_steps=2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count(r.output, step_line(2)), 1) << r.output;
  EXPECT_EQ(count(r.output, step_line(4)), 1) << r.output;
  EXPECT_EQ(count(r.output, step_line(3)), 0) << r.output;
  // By time: a tiny interval prints every step; the default 30 s prints none in a run this short.
  r = test::run_attncamp("train --config " + cfg + " --set trainer.max_steps=4 --set trainer.log_every_seconds=1e-6");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (int s = 1; s <= 4; ++s) EXPECT_EQ(count(r.output, step_line(s)), 1) << s << "\n" << r.output;
  r = test::run_attncamp("train --config " + cfg + " --set trainer.max_steps=4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count(r.output, "epoch 1/2 step"), 0) << r.output;
}

// A run writes best.h5 after its epochs' evaluations; `attncamp eval` evaluates it with the
// config's task and prints the same metrics the training run printed for that epoch.
TEST_F(TrainOutputs, EvalOfTheBestCheckpoint) {
  const std::string out = test::temp_dir();
  const std::string cfg = config(out);
  test::CommandResult r = test::run_attncamp("train --config " + cfg);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m,
                                std::regex("final evaluation: (test loss [0-9.]+, top-1 [0-9.]+%, "
                                           "top-5 [0-9.]+%) \\(32 samples, 16 steps\\)")))
      << r.output;
  EXPECT_EQ(count(r.output,
                  "epoch [12]/2: train loss [0-9.]+, test loss [0-9.]+, top-1 [0-9.]+%, top-5 [0-9.]+%, "
                  "[0-9]+ img/s"),
            2)
      << r.output;
  ASSERT_TRUE(fs::exists(out + "/best.h5"));
  r = test::run_attncamp("eval --config " + cfg + " --checkpoint " + out + "/checkpoint.h5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("32 samples, " + m[1].str()), std::string::npos) << r.output;
  r = test::run_attncamp("eval --config " + cfg + " --checkpoint " + out + "/best.h5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("32 samples, test loss"), std::string::npos) << r.output;
}

TEST_F(TrainOutputs, BenchTrainRunsTheTrainersStep) {
  const std::string cfg = config(test::temp_dir());
  const test::CommandResult r = test::run_attncamp("bench train --config " + cfg + " --steps 3 --warmup 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count(r.output, "bench train .*: batch 32 per rank, 1 rank\\(s\\), 3 steps, [0-9.]+ ms/step"), 1)
      << r.output;
  EXPECT_EQ(count(r.output, "attncamp images/s: [0-9.]+"), 1) << r.output;
}

}  // namespace
}  // namespace attncamp
