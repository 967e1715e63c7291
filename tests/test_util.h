// Shared test helpers: fixture-data paths, deterministic random tensors,
// and running the attncamp binary to check exit codes and messages.
#pragma once

#include <string>

#include "runtime/env.h"
#include "runtime/tensor.h"

namespace attncamp::test {

// Folder of real fixture data: $ATTNCAMP_DATA_DIR or ../shared/data beside the checkout.
std::string data_dir();
// The source tree ($ATTNCAMP_TEST_SOURCE_DIR, else the one this test was built from) and the
// attncamp binary ($ATTNCAMP_TEST_BINARY, else the build's bin/attncamp).
std::string source_dir();
std::string attncamp_binary();
// Fresh temporary folder, unique per call (removed by the OS's tmp cleaning, not by tests).
std::string temp_dir();
// Tensor of `shape` and `dtype` (f32 or f64) with uniform values in [lo, hi), fixed by `seed`.
Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed, double lo = -1.0, double hi = 1.0);
// Converts a CPU floating-point tensor (f32, f64, bf16, f16) to another of these dtypes
// (round to nearest even for the 16-bit ones).
Tensor to_dtype(const Tensor& t, DType dtype);
// Largest absolute elementwise difference of two floating-point CPU tensors of equal size
// (infinity if any difference is NaN).
double max_abs_diff(const Tensor& a, const Tensor& b);
// Largest finite |x| of a floating-point CPU tensor (infinities and NaN are passed over; 0 if none).
double max_abs(const Tensor& t);

// Sets an environment variable for a scope (runtime/env.h).
using ScopedEnv = env::Scoped;

struct CommandResult {
  int exit_code = -1;  // exit status, or 128+signal when killed by a signal
  std::string output;  // stdout and stderr together
};
// Runs a shell command line (stderr joined to stdout).
CommandResult run_command(const std::string& command);
// Runs `args` (a shell-quoted command line after the binary) with the attncamp binary.
CommandResult run_attncamp(const std::string& args);

}  // namespace attncamp::test

#include <functional>

namespace attncamp::test {

// Central finite differences of a scalar function of `x` (f64, contiguous): for each element
// x_i, (loss(x_i + eps) - loss(x_i - eps)) / (2 eps). `x` is restored afterwards.
Tensor numerical_gradient(const std::function<double()>& loss, Tensor& x, double eps = 1e-6);
// Sum of out * w over all elements (f64 tensors of equal size): the scalar used to turn a
// tensor output into a loss whose upstream gradient is `w`.
double weighted_sum(const Tensor& out, const Tensor& w);

}  // namespace attncamp::test

#include <gtest/gtest.h>

#include <vector>

namespace attncamp::test {

// Expects `f()` to throw attncamp::Error whose one-line message contains every piece.
template <typename F>
void expect_error(F f, const std::vector<std::string>& pieces) {
  try {
    f();
    FAIL() << "no error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& p : pieces) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

}  // namespace attncamp::test
