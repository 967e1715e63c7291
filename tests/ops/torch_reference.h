// PyTorch/torchvision as an independent reference for op tests: a test hands CPU tensors to a short
// Python script run by /usr/bin/python3 (Debian's python3-torch and python3-torchvision), which
// computes the same thing with torch and hands tensors back. Values travel as raw f64 files with
// their shapes, so f32 inputs arrive exactly and the script works in f64. Tests skip, saying why,
// when that Python lacks torch, torchvision or numpy.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/tensor.h"
#include "tests/test_util.h"

namespace attncamp::test {

inline constexpr const char* kTorchPython = "/usr/bin/python3";

// What every reference script starts with: `load(name)` returns input `name` as an f64 tensor and
// `save(name, t)` hands tensor `t` back (as f64).
inline constexpr const char* kTorchPrelude = R"PY(
import sys
import numpy as np
import torch
import torchvision
D = sys.argv[1]
def load(name):
    shape = [int(v) for v in open(D + "/" + name + ".shape").read().split()]
    return torch.from_numpy(np.fromfile(D + "/" + name + ".bin", dtype=np.float64).reshape(shape))
def save(name, t):
    t = torch.as_tensor(t).detach().to(torch.float64).contiguous()
    open(D + "/" + name + ".shape", "w").write(" ".join(str(s) for s in t.shape))
    t.numpy().tofile(D + "/" + name + ".bin")
)PY";

// Runs kTorchPrelude + `body` with the folder `dir` as its argument; false (and the output in
// *log) when Python fails.
inline bool run_torch_script(const std::string& dir, const std::string& body, std::string* log) {
  std::ofstream(dir + "/script.py") << kTorchPrelude << body;
  const std::string cmd = std::string(kTorchPython) + " " + dir + "/script.py " + dir + " > " + dir + "/log 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(dir + "/log");
  log->assign(std::istreambuf_iterator<char>(in), {});
  return rc == 0;
}

// Empty when the reference can run here; otherwise why not (checked once per process).
inline const std::string& torch_unavailable_reason() {
  static const std::string why = [] {
    std::string log;
    if (run_torch_script(temp_dir(), "", &log)) return std::string();
    return std::string(kTorchPython) + " cannot import numpy, torch and torchvision: " + log;
  }();
  return why;
}

// Runs `body` on `inputs` (CPU float tensors of any dtype, saved as f64) and returns the tensors
// it saved under `outputs` (CPU f64). On a Python error the test fails with Python's output and
// the result is empty.
inline std::map<std::string, Tensor> run_torch(const std::string& body, const std::map<std::string, Tensor>& inputs,
                                               const std::vector<std::string>& outputs) {
  const std::string dir = temp_dir();
  for (const auto& [name, t] : inputs) {
    const Tensor v = to_dtype(t, DType::kF64);
    std::ofstream(dir + "/" + name + ".bin", std::ios::binary)
        .write(static_cast<const char*>(v.raw_data()), static_cast<std::streamsize>(v.nbytes()));
    std::ofstream shape(dir + "/" + name + ".shape");
    for (int64_t s : v.shape()) shape << s << " ";
  }
  std::string log;
  if (!run_torch_script(dir, body, &log)) {
    ADD_FAILURE() << "the torch reference failed: " << log;
    return {};
  }
  std::map<std::string, Tensor> result;
  for (const std::string& name : outputs) {
    std::ifstream shape_in(dir + "/" + name + ".shape");
    if (!shape_in) {
      ADD_FAILURE() << "the torch reference saved no '" << name << "': " << log;
      return {};
    }
    Shape shape;
    for (int64_t s = 0; shape_in >> s;) shape.push_back(s);
    Tensor t = Tensor::empty(shape, DType::kF64);
    std::ifstream(dir + "/" + name + ".bin", std::ios::binary)
        .read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
    result[name] = t;
  }
  return result;
}

}  // namespace attncamp::test

// First statement of a test that compares with torch: skips (saying why) without it.
#define ATTNCAMP_REQUIRE_TORCH()                                                     \
  do {                                                                               \
    const std::string& attncamp_why_ = ::attncamp::test::torch_unavailable_reason(); \
    if (!attncamp_why_.empty()) GTEST_SKIP() << attncamp_why_;                       \
  } while (0)
