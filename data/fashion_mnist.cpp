// Fashion-MNIST conversion: IDX tensors (data/idx.h) are checked, reshaped to NHWC with one
// channel, labels widened to int32, and each split written with write_file_atomically.
#include "data/fashion_mnist.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "data/hdf5.h"
#include "data/idx.h"
#include "runtime/env.h"

namespace attncamp::data {

namespace {

constexpr int64_t kNumClasses = 10;

// Converts one split (prefix "train" or "t10k") into `output`; returns the sample count.
int64_t convert_split(const std::string& input_dir, const std::string& prefix, const std::string& output) {
  const std::string images_path = input_dir + "/" + prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = input_dir + "/" + prefix + "-labels-idx1-ubyte.gz";
  Tensor images = read_idx(images_path);
  Tensor labels8 = read_idx(labels_path);
  if (images.dim() != 3) {
    ATTNCAMP_THROW(images_path, ": images have shape ", shape_str(images.shape()), ", expected [N, H, W]");
  }
  if (labels8.dim() != 1) {
    ATTNCAMP_THROW(labels_path, ": labels have shape ", shape_str(labels8.shape()), ", expected [N]");
  }
  const int64_t n = images.size(0);
  if (labels8.size(0) != n) {
    ATTNCAMP_THROW(labels_path, ": ", labels8.size(0), " labels but ", images_path, " has ", n, " images");
  }
  Tensor labels = Tensor::empty({n}, DType::kI32);
  const uint8_t* src = labels8.data<uint8_t>();
  int32_t* dst = labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (src[i] >= kNumClasses) {
      ATTNCAMP_THROW(labels_path, ": label[", i, "] = ", int(src[i]), " is outside [0, ", kNumClasses, ")");
    }
    dst[i] = src[i];
  }
  const Tensor nhwc = images.view({n, images.size(1), images.size(2), 1});
  write_file_atomically(output, [&](hid_t file) {
    write_attr_string(file, "attncamp_schema", "classification/1");
    write_attr_int(file, "num_classes", kNumClasses);
    write_string_dataset(file, "class_names", fashion_mnist_class_names());
    write_tensor(file, "images", nhwc);
    H5Id ds = open_dataset(file, "images");
    write_attr_string(ds.get(), "encoding", "raw");
    ds.close(output + ": dataset /images");
    write_tensor(file, "labels", labels);
  });
  return n;
}

}  // namespace

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

std::string default_fashion_mnist_dir() {
  const char* env_dir = std::getenv(env::kFashionMnistDir);
  return env_dir && *env_dir ? env_dir : "/usr/share/datasets/fashion-mnist";
}

ConvertSummary convert_fashion_mnist(const std::string& input_dir, const std::string& output_dir) {
  std::error_code ec;
  std::filesystem::create_directories(output_dir, ec);
  if (ec) ATTNCAMP_THROW(output_dir, ": cannot create output folder (", ec.message(), ")");
  ConvertSummary summary;
  const std::pair<const char*, const char*> splits[] = {{"train", "train.h5"}, {"t10k", "test.h5"}};
  for (const auto& [prefix, name] : splits) {
    const std::string output = output_dir + "/" + name;
    summary.written += convert_split(input_dir, prefix, output);
    summary.outputs.push_back(output);
  }
  return summary;
}

}  // namespace attncamp::data
