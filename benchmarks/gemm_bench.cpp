// f32 GEMM on the ViT training shapes (M = 6400 rows = batch 128 x 50 tokens): the native AVX2
// kernel (ops/cpu/sgemm_native.h) against OpenBLAS cblas_sgemm, both on 2 threads. Each case is
// one Google Benchmark with a GFLOP/s counter; a table comparing the two is printed last.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ops/cpu/sgemm_native.h"

namespace {

constexpr int kThreads = 2;
constexpr int64_t kRows = 6400;

struct Shape {
  const char* what;
  int64_t m, n, k;
  bool ta, tb;
  float beta;
};

// Linear layers as (in, out) pairs: forward x @ W^T, backward dx = dy @ W and dW += dy^T @ x.
std::vector<Shape> shapes() {
  const int64_t pairs[][2] = {{64, 192}, {64, 64}, {64, 256}, {256, 64}, {16, 64}};
  std::vector<Shape> s;
  for (const auto& p : pairs) s.push_back({"fwd", kRows, p[1], p[0], false, true, 1.0f});
  for (const auto& p : pairs) s.push_back({"dx", kRows, p[0], p[1], false, false, 0.0f});
  for (const auto& p : pairs) s.push_back({"dW", p[1], p[0], kRows, true, false, 1.0f});
  return s;
}

std::string label(const Shape& s) {
  return std::string(s.what) + " " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
}

// Best GFLOP/s per (label, implementation), printed as a table at exit.
struct Summary {
  std::map<std::string, std::map<std::string, double>> rate;
  std::vector<std::string> order;
  ~Summary() {
    if (order.empty()) return;
    std::printf("\n%-22s %10s %12s %14s %8s\n", "shape (MxNxK)", "native ms", "native GF/s", "OpenBLAS GF/s", "ratio");
    for (const auto& l : order) {
      const double nat = rate[l]["native"], blas = rate[l]["openblas"];
      const double flops = rate[l]["flops"];
      std::printf("%-22s %10.3f %12.1f %14.1f %8.2f\n", l.c_str(), nat > 0 ? flops / nat * 1e-6 : 0.0, nat, blas,
                  blas > 0 ? nat / blas : 0.0);
    }
  }
};
Summary summary;

void run(benchmark::State& state, const Shape& s, bool native) {
  omp_set_num_threads(kThreads);
  openblas_set_num_threads(kThreads);
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(static_cast<size_t>(s.m * s.k)), b(static_cast<size_t>(s.k * s.n)),
      c(static_cast<size_t>(s.m * s.n));
  for (auto* v : {&a, &b, &c}) {
    for (auto& x : *v) x = dist(gen);
  }
  const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n, ldc = s.n;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (native) {
      attncamp::ops::cpu::sgemm_native(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, s.beta, c.data(),
                                       ldc);
    } else {
      cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans,
                  static_cast<int>(s.m), static_cast<int>(s.n), static_cast<int>(s.k), 1.0f, a.data(),
                  static_cast<int>(lda), b.data(), static_cast<int>(ldb), s.beta, c.data(), static_cast<int>(ldc));
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double flops = 2.0 * static_cast<double>(s.m * s.n * s.k);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (state.iterations() == 0 || seconds <= 0) return;
  const double gfs = flops * 1e-9 * static_cast<double>(state.iterations()) / seconds;
  const std::string l = label(s);
  if (summary.rate.count(l) == 0) summary.order.push_back(l);
  double& best = summary.rate[l][native ? "native" : "openblas"];
  best = std::max(best, gfs);
  summary.rate[l]["flops"] = flops;
}

// Registers every shape for both implementations and records the rate after each run.
int register_all() {
  for (const Shape& s : shapes()) {
    for (bool native : {true, false}) {
      const std::string name = std::string("gemm_f32/") + (native ? "native/" : "openblas/") + label(s);
      benchmark::RegisterBenchmark(name.c_str(), [s, native](benchmark::State& st) { run(st, s, native); })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  return 0;
}
const int registered = register_all();

}  // namespace
