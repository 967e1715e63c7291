// Implementation of the shared test helpers.
#include "tests/test_util.h"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "runtime/env.h"
#include "runtime/half.h"
#include "runtime/rng.h"

namespace attncamp::test {

std::string data_dir() {
  const char* env = std::getenv(env::kDataDir);
  if (env && *env) return env;
  return ATTNCAMP_TEST_DATA_DIR;
}

std::string temp_dir() {
  static std::atomic<int> counter{0};
  const auto base = std::filesystem::temp_directory_path() /
                    ("attncamp_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base);
  return base.string();
}

namespace {
std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}
}  // namespace

std::string source_dir() { return env_or(env::kTestSourceDir, ATTNCAMP_SOURCE_DIR); }

std::string attncamp_binary() { return env_or(env::kTestBinary, ATTNCAMP_BINARY); }

Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed, double lo, double hi) {
  Tensor t = Tensor::empty(shape, dtype);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    const double u = philox_uniform(seed, static_cast<uint64_t>(RngStream::kTest), static_cast<uint64_t>(i));
    const double v = lo + (hi - lo) * u;
    if (dtype == DType::kF32) {
      t.data<float>()[i] = static_cast<float>(v);
    } else if (dtype == DType::kF64) {
      t.data<double>()[i] = v;
    } else {
      ATTNCAMP_THROW("random_tensor supports f32 and f64");
    }
  }
  return t;
}

namespace {

double get_float(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kF32: return t.data<float>()[i];
    case DType::kF64: return t.data<double>()[i];
    case DType::kBF16: return bf16_to_float(t.data<BFloat16>()[i]);
    case DType::kF16: return f16_to_float(t.data<Float16>()[i]);
    default: ATTNCAMP_THROW("test helpers expect a floating-point tensor, got ", dtype_name(t.dtype()));
  }
}

void set_float(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DType::kF32: t.data<float>()[i] = static_cast<float>(v); break;
    case DType::kF64: t.data<double>()[i] = v; break;
    case DType::kBF16: t.data<BFloat16>()[i] = float_to_bf16(static_cast<float>(v)); break;
    case DType::kF16: t.data<Float16>()[i] = float_to_f16(static_cast<float>(v)); break;
    default: ATTNCAMP_THROW("test helpers expect a floating-point tensor, got ", dtype_name(t.dtype()));
  }
}

}  // namespace

Tensor to_dtype(const Tensor& t, DType dtype) {
  ATTNCAMP_CHECK(t.device().is_cpu() && t.is_contiguous(), "to_dtype needs a contiguous CPU tensor");
  Tensor out = Tensor::empty(t.shape(), dtype);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) set_float(out, i, get_float(t, i));
  return out;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  ATTNCAMP_CHECK(a.numel() == b.numel(), "max_abs_diff: size mismatch");
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = get_float(a, i);
    const double y = get_float(b, i);
    const double d = std::fabs(x - y);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double x = std::fabs(get_float(t, i));
    if (std::isfinite(x)) m = std::max(m, x);
  }
  return m;
}

CommandResult run_attncamp(const std::string& args) { return run_command("'" + attncamp_binary() + "' " + args); }

CommandResult run_command(const std::string& command) {
  CommandResult r;
  const std::string cmd = command + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t got;
  while ((got = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), got);
  const int status = pclose(p);
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.exit_code = 128 + WTERMSIG(status);
  }
  return r;
}

}  // namespace attncamp::test

namespace attncamp::test {

Tensor numerical_gradient(const std::function<double()>& loss, Tensor& x, double eps) {
  ATTNCAMP_CHECK(x.dtype() == DType::kF64 && x.is_contiguous(), "numerical_gradient needs a contiguous f64 tensor");
  Tensor g = Tensor::empty(x.shape(), DType::kF64);
  double* px = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double orig = px[i];
    px[i] = orig + eps;
    const double lp = loss();
    px[i] = orig - eps;
    const double lm = loss();
    px[i] = orig;
    g.data<double>()[i] = (lp - lm) / (2 * eps);
  }
  return g;
}

double weighted_sum(const Tensor& out, const Tensor& w) {
  ATTNCAMP_CHECK(out.numel() == w.numel(), "weighted_sum: size mismatch");
  double s = 0;
  for (int64_t i = 0; i < out.numel(); ++i) s += out.data<double>()[i] * w.data<double>()[i];
  return s;
}

}  // namespace attncamp::test
