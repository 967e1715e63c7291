// Data-parallel equivalence, run under mpirun with 2 and 4 ranks (tests/CMakeLists.txt) and as
// one process: K steps on N ranks with per-rank batch B/N give the parameters and losses of one
// rank with batch B (up to float reordering of the gradient sums), also with gradient
// accumulation, over an epoch whose last global batch is short (210 samples, B = 32; the 21 test
// samples do not divide among 2 or 4 ranks either, and each must count once), and a
// run interrupted and resumed in the middle equals the uninterrupted one bit for bit. SGD with
// momentum keeps the comparison tight: its update is linear in the gradient, while Adam's
// m / sqrt(v) turns reordering noise in near-zero gradients into differences of order lr.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "data/checkpoint.h"
#include "launch/config.h"
#include "launch/trainer.h"
#include "runtime/communicator.h"
#include "tests/test_util.h"

namespace attncamp::launch {
namespace {

constexpr int kGlobalBatch = 32;

Communicator& world() {
  static std::unique_ptr<Communicator> c =
      mpi_compiled() ? make_mpi_communicator(CommOptions{120, true}) : make_single_communicator();
  return *c;
}

// A folder every rank agrees on (rank 0 creates it and broadcasts the name).
std::string shared_dir() {
  Communicator& c = world();
  std::string dir = c.rank() == 0 ? test::temp_dir() : std::string();
  Tensor buf = Tensor::zeros({512}, DType::kU8);
  std::memcpy(buf.raw_data(), dir.data(), std::min<size_t>(dir.size(), 511));
  c.broadcast(buf, 0)->wait();
  return std::string(static_cast<const char*>(buf.raw_data()));
}

config::Experiment tiny(const std::string& out, std::vector<std::string> overrides) {
  const std::string text = R"(name: "ddp_tiny"
model { vit { image_size: 16 in_channels: 3 patch_size: 4 dim: 32 depth: 1 heads: 2 mlp_dim: 64
              num_classes: 10 pool: ATTENTION_POOL label_smoothing: 0.1 } }
data { classification { synthetic_samples: 210 mean: 0.5 std: 0.25 } }
optimizer { kind: SGD lr: 0.05 momentum: 0.9 weight_decay: 1e-4 schedule: COSINE warmup_epochs: 0.2 clip_grad_norm: 1.0 }
trainer { epochs: 1 seed: 11 threads: 1 output_dir: ")" +
                           out + R"(" }
)";
  overrides.push_back("trainer.global_batch=" + std::to_string(kGlobalBatch));
  return parse_config_text(text, "ddp_tiny.pbtxt", overrides);
}

Tensor final_params(const std::string& dir) {
  return data::read_checkpoint(dir + "/checkpoint.h5").tensors.at("params");
}

// One process, batch 32, no accumulation: the reference every configuration must match.
struct Reference {
  TrainResult result;
  Tensor params;
};
const Reference& reference() {
  static Reference* r = [] {
    auto* ref = new Reference();
    const std::string dir = test::temp_dir();
    auto single = make_single_communicator();
    ref->result = Trainer(tiny(dir, {"trainer.batch_size=32"}), "ddp_tiny.pbtxt").run("", single.get());
    ref->params = final_params(dir);
    return ref;
  }();
  return *r;
}

void expect_matches_reference(const TrainResult& r, const std::string& dir, const char* what) {
  const Reference& ref = reference();
  ASSERT_EQ(r.step_losses.size(), 7u) << what;  // ceil(210 / 32): the last global batch has 18 samples
  ASSERT_EQ(r.step_losses.size(), ref.result.step_losses.size()) << what;
  for (size_t i = 0; i < r.step_losses.size(); ++i) {
    EXPECT_NEAR(r.step_losses[i], ref.result.step_losses[i], 1e-5) << what << " step " << i + 1;
  }
  // All ranks read rank 0's checkpoint after the run's closing barrier.
  const double diff = test::max_abs_diff(final_params(dir), ref.params);
  EXPECT_LT(diff, 2e-5) << what << ": parameters differ from the single-process run by " << diff;
  EXPECT_NEAR(r.final_eval.at("test/loss"), ref.result.final_eval.at("test/loss"), 1e-4) << what;
  EXPECT_EQ(r.final_eval.count, 21) << what;
  EXPECT_EQ(r.final_eval.at("test/top1"), ref.result.final_eval.at("test/top1")) << what;
}

TEST(DataParallel, MatchesSingleProcess) {
  const int n = world().size();
  const std::string dir = shared_dir();
  const TrainResult r = Trainer(tiny(dir, {"trainer.batch_size=" + std::to_string(kGlobalBatch / n)}), "ddp_tiny.pbtxt")
                            .run("", &world());
  expect_matches_reference(r, dir, "no accumulation");
}

// Without the per-collective consistency check the results are the same (the check only adds
// fingerprint messages to rank 0).
TEST(DataParallel, SkippingCollectiveChecksGivesTheSameRun) {
  const int n = world().size();
  const std::string dir = shared_dir();
  auto unchecked = mpi_compiled() ? make_mpi_communicator(CommOptions{120, false}) : make_single_communicator();
  const TrainResult r =
      Trainer(
          tiny(dir, {"trainer.batch_size=" + std::to_string(kGlobalBatch / n), "trainer.skip_collective_checks=true"}),
          "ddp_tiny.pbtxt")
          .run("", unchecked.get());
  expect_matches_reference(r, dir, "no consistency checks");
}

TEST(DataParallel, MatchesSingleProcessWithAccumulation) {
  const int n = world().size();
  const std::string dir = shared_dir();
  // Per-rank micro-batches of B/(2N): two accumulation steps per optimizer step.
  const TrainResult r =
      Trainer(tiny(dir, {"trainer.batch_size=" + std::to_string(kGlobalBatch / (2 * n))}), "ddp_tiny.pbtxt")
          .run("", &world());
  expect_matches_reference(r, dir, "2 accumulation steps");
}

TEST(DataParallel, ResumeInTheMiddleIsBitExact) {
  const int n = world().size();
  const std::string batch = "trainer.batch_size=" + std::to_string(kGlobalBatch / n);
  const std::string full_dir = shared_dir(), split_dir = shared_dir();
  const TrainResult full = Trainer(tiny(full_dir, {batch}), "ddp_tiny.pbtxt").run("", &world());
  Trainer(tiny(split_dir, {batch, "trainer.max_steps=3"}), "ddp_tiny.pbtxt").run("", &world());
  const TrainResult rest = Trainer(tiny(split_dir, {batch}), "ddp_tiny.pbtxt").run("auto", &world());
  ASSERT_EQ(rest.step_losses.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(rest.step_losses[i], full.step_losses[3 + i]) << "step " << 4 + i;
  EXPECT_EQ(test::max_abs_diff(final_params(split_dir), final_params(full_dir)), 0.0);
  expect_matches_reference(rest.step_losses.empty() ? rest : full, full_dir, "resume");
}

// A diverging run (learning rate 1e12): STOP ends it with an error naming the step; SKIP_STEP
// skips the bad steps on every rank alike and finishes.
TEST(DataParallel, NonFiniteStopsOrSkipsOnEveryRank) {
  const int n = world().size();
  const std::string batch = "trainer.batch_size=" + std::to_string(kGlobalBatch / n);
  test::expect_error(
      [&] {
        Trainer(tiny(shared_dir(), {batch, "optimizer.lr=1e12"}), "ddp_tiny.pbtxt").run("", &world());
      },
      {"is not finite at step"});
  const TrainResult r =
      Trainer(tiny(shared_dir(), {batch, "optimizer.lr=1e12", "trainer.on_nonfinite=SKIP_STEP"}), "ddp_tiny.pbtxt")
          .run("", &world());
  EXPECT_EQ(r.steps, 7);
  EXPECT_GT(r.skipped_steps, 0);
}

}  // namespace
}  // namespace attncamp::launch
