// Tiny synthetic Fashion-MNIST-shaped IDX files for trainer and CLI tests:
// each class draws a bright bar at its own position over Philox noise, so a
// small ViT learns it in a few steps. Written as .gz IDX files and converted
// with the real converter.
#pragma once

#include <zlib.h>

#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/rng.h"

namespace attncamp::test {

inline void write_idx_gz(const std::string& path, const std::vector<int>& dims, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ATTNCAMP_CHECK(f != nullptr, "cannot write ", path);
  const unsigned char magic[4] = {0, 0, 0x08, static_cast<unsigned char>(dims.size())};
  gzwrite(f, magic, 4);
  for (int d : dims) {
    const unsigned char be[4] = {static_cast<unsigned char>(d >> 24), static_cast<unsigned char>(d >> 16),
                                 static_cast<unsigned char>(d >> 8), static_cast<unsigned char>(d)};
    gzwrite(f, be, 4);
  }
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// Writes {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz with n_train / n_test samples into `dir`.
inline void write_tiny_fashion_mnist(const std::string& dir, int n_train, int n_test, uint64_t seed = 5) {
  auto make = [&](const std::string& prefix, int n, uint64_t s) {
    std::vector<uint8_t> images(static_cast<size_t>(n) * 784), labels(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const int label = static_cast<int>(10 * philox_uniform(s, 1, i)) % 10;
      labels[i] = static_cast<uint8_t>(label);
      for (int p = 0; p < 784; ++p) {
        const int row = p / 28;
        const bool bar = row >= 2 + 2 * label && row < 4 + 2 * label;
        const float noise = philox_uniform(s, 2, static_cast<uint64_t>(i) * 784 + p);
        images[static_cast<size_t>(i) * 784 + p] = static_cast<uint8_t>(bar ? 200 + 50 * noise : 80 * noise);
      }
    }
    write_idx_gz(dir + "/" + prefix + "-images-idx3-ubyte.gz", {n, 28, 28}, images);
    write_idx_gz(dir + "/" + prefix + "-labels-idx1-ubyte.gz", {n}, labels);
  };
  make("train", n_train, seed);
  make("t10k", n_test, seed + 1);
}

// A small ViT config text for the tiny data in `data_dir` writing to `out_dir`.
inline std::string tiny_config_text(const std::string& data_dir, const std::string& out_dir) {
  return "name: \"tiny\"\n"
         "model { vit { image_size: 28 in_channels: 1 patch_size: 7 dim: 16 depth: 1 heads: 2 mlp_dim: 32\n"
         "              num_classes: 10 pool: CLS_TOKEN dropout: 0.1 } }\n"
         "data { train_path: \"" +
         data_dir + "/train.h5\" test_path: \"" + data_dir +
         "/test.h5\"\n"
         "       classification { mean: 0.2 std: 0.3 } }\n"
         "optimizer { kind: ADAMW lr: 3e-3 weight_decay: 0.05 schedule: COSINE warmup_epochs: 0.5 clip_grad_norm: 1.0 "
         "}\n"
         "trainer { epochs: 2 batch_size: 32 eval_batch_size: 50 seed: 3 output_dir: \"" +
         out_dir +
         "\"\n"
         "          checkpoint_every_epochs: 1 threads: 2 }\n";
}

}  // namespace attncamp::test
