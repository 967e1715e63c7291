// The cases of the NMS benchmarks (benchmarks/nms_bench.cpp on the CPU, benchmarks/gpu/nms_bench.cpp
// on CUDA) and the files their peer (benchmarks/peers/nms_torchvision.py) reads: clustered
// detector-like boxes (tests/ops/nms_test_data.h: about ten boxes per object, distinct scores so
// that torchvision's unstable sort cannot reorder ties), 1000 to 20000 boxes, nms on one class and
// batched_nms on one class or 80, IoU threshold 0.5.
#pragma once

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "tests/ops/nms_test_data.h"

namespace attncamp::bench {

inline constexpr double kNmsIouThreshold = 0.5;
inline constexpr int64_t kBoxesPerObject = 10;

struct NmsCase {
  std::string op;  // "nms" or "batched_nms"
  int64_t boxes, classes;
  // The files' base name, and the key of the peer's lines: <op>_<boxes>_<classes>.
  std::string name() const { return op + "_" + std::to_string(boxes) + "_" + std::to_string(classes); }
  test::DetectionInputs inputs() const {
    return test::clustered_boxes(boxes, boxes / kBoxesPerObject, classes, 1000 + boxes, DType::kF32, true);
  }
};

inline std::vector<NmsCase> nms_cases() {
  std::vector<NmsCase> cases;
  for (int64_t n : {1000, 10000, 20000}) {
    cases.push_back({"nms", n, 1});
    cases.push_back({"batched_nms", n, 1});
    cases.push_back({"batched_nms", n, 80});
  }
  return cases;
}

// Writes a CPU tensor's bytes to `path`.
inline void write_raw(const std::string& path, const Tensor& t) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
  ATTNCAMP_CHECK(out.good(), "cannot write ", path);
}

// DIR/<case>.boxes, .scores, .classes (the peer's inputs) and DIR/<case>.keep_attncamp.
inline void write_case(const std::string& dir, const NmsCase& c, const test::DetectionInputs& in, const Tensor& keep) {
  const std::string base = dir + "/" + c.name();
  write_raw(base + ".boxes", in.boxes);
  write_raw(base + ".scores", in.scores);
  write_raw(base + ".classes", in.class_ids);
  write_raw(base + ".keep_attncamp", keep.to(Device::cpu()));
}

// One timed case.
struct NmsRow {
  NmsCase c;
  double ms;
  int64_t kept;
};

// The line the comparison script reads: case<TAB>ms<TAB>kept.
inline void print_nms_line(const NmsRow& r) {
  std::printf("%s\t%.4f\t%lld\n", r.c.name().c_str(), r.ms, static_cast<long long>(r.kept));
  std::fflush(stdout);
}

// The table printed last: what, boxes, classes, time, kept, under `title` and the threshold.
inline void print_nms_table(const std::string& title, const std::vector<NmsRow>& rows) {
  std::printf("\n%s, IoU threshold %.2f\n%-12s %7s %8s %10s %7s\n", title.c_str(), kNmsIouThreshold, "what", "boxes",
              "classes", "time ms", "kept");
  for (const NmsRow& r : rows) {
    std::printf("%-12s %7lld %8lld %10.4f %7lld\n", r.c.op.c_str(), static_cast<long long>(r.c.boxes),
                static_cast<long long>(r.c.classes), r.ms, static_cast<long long>(r.kept));
  }
}

}  // namespace attncamp::bench
