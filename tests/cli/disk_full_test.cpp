// End-to-end test of a checkpoint write that runs out of disk space part-way, simulated with the
// test hook env::kTestFileSizeLimit (a small tmpfs behaves the same, but mounting one needs
// privileges CI may lack): attncamp must exit 1 with exactly one error line, leave no temporary
// file behind and keep the previous checkpoint byte for byte.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace attncamp {
namespace {

namespace fs = std::filesystem;

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A tiny ViT on synthetic data, one epoch of two steps, a checkpoint after each epoch.
std::string write_config(const std::string& out_dir) {
  const std::string path = out_dir + "/exp.pbtxt";
  std::ofstream(path) << "name: \"disk_full\"\n"
                         "model { vit { image_size: 28 in_channels: 1 patch_size: 7 dim: 16 depth: 1 heads: 2\n"
                         "              mlp_dim: 32 num_classes: 10 pool: CLS_TOKEN } }\n"
                         "data { classification { synthetic_samples: 64 mean: 0.5 std: 0.25 } }\n"
                         "optimizer { kind: ADAMW lr: 1e-3 }\n"
                         "trainer { epochs: 1 batch_size: 32 eval_batch_size: 32 seed: 3 threads: 1\n"
                         "          checkpoint_every_epochs: 1 output_dir: \""
                      << out_dir << "\" }\n";
  return path;
}

TEST(DiskFull, CheckpointWriteFailsCleanlyAndKeepsThePreviousOne) {
  const std::string out = test::temp_dir();
  const std::string cfg = write_config(out);
  const std::string ckpt = out + "/checkpoint.h5";
  const test::CommandResult first = test::run_attncamp("train --config '" + cfg + "'");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const std::string before = file_bytes(ckpt);
  ASSERT_FALSE(before.empty());

  // The disk fills up in the middle of the data, and in the last bytes (the metadata HDF5 writes
  // when it flushes); the second epoch's checkpoint must fail either way.
  for (const size_t limit : {before.size() / 2, before.size() - 1}) {
    SCOPED_TRACE("file size limit " + std::to_string(limit));
    const test::ScopedEnv disk(env::kTestFileSizeLimit, std::to_string(limit).c_str());
    const test::CommandResult r =
        test::run_attncamp("train --config '" + cfg + "' --set trainer.epochs=2 --resume auto");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    std::vector<std::string> errors;
    for (const std::string& line : lines_of(r.output)) {
      if (line.find("rror") != std::string::npos || line.find("HDF5") != std::string::npos) errors.push_back(line);
    }
    ASSERT_EQ(errors.size(), 1u) << r.output;
    EXPECT_EQ(errors[0].rfind("attncamp: error: " + ckpt + ".tmp-", 0), 0u) << errors[0];
    EXPECT_NE(errors[0].find("File too large"), std::string::npos) << errors[0];
    EXPECT_EQ(lines_of(r.output).back(), errors[0]) << r.output;

    for (const auto& entry : fs::directory_iterator(out)) {
      EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
    }
    EXPECT_TRUE(file_bytes(ckpt) == before) << ckpt << " changed";
  }
}

}  // namespace
}  // namespace attncamp
