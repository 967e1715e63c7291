// The one GPU-vs-CPU parity harness of the ops tests. A Case lists an op's operands (slots) and
// a function that runs the op on them; check_parity runs it on the device under test once per
// activation dtype of the case and compares every output with the CPU reference:
//   f32        max|out - ref32| <= tol.f32.at(max|ref32|), ref32 the CPU in f32;
//   bf16, f16  STYLE's rule max|out - ref64| <= 2 max|ref_lowp - ref64| + tol.lowp_eps.at(max|ref64|),
//              ref64 the CPU in f64 and ref_lowp the CPU in f32 with every activation output (and
//              each intermediate the kernel stores in the activation dtype, ParityRun::round_stored)
//              rounded through the dtype;
//   exact      integer outputs, and float outputs marked exact(), equal the CPU f32 run (ref32,
//              or ref_lowp for a 16-bit dtype) element for element.
// Every reference reads the values the kernel reads (inputs rounded through their dtype), and
// outputs are poisoned before any run (NaN for floats, the k*Poison values for integers), so an
// element the kernel never writes fails the comparison. Without a GPU check_parity skips the
// test (GTEST_SKIP with the reason); its own logic is tested on the CPU (parity_test.cpp), with
// the CPU as the device under test.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace attncamp::test {

// An allowed error: abs + rel * max|reference|.
struct Tol {
  double abs = 0, rel = 0;
  double at(double max_ref) const { return abs + rel * max_ref; }
};

// An op's tolerances (named per op in its test): the f32 kernel against the CPU in f32, and the eps
// of the 16-bit rule.
struct Tolerance {
  Tol f32, lowp_eps;
};

// What a slot holds on the device under test (and in the f64 / f32 CPU references).
enum class Prec {
  kAct,         // an activation: the run's dtype, f32, bf16 or f16 (f64 / f32)
  kParam,       // a parameter, gradient or statistic: f32 (f64 / f32)
  kParamAsAct,  // an f32 parameter that the kernel rounds to the activation dtype before use
                // (the references read it rounded through the run's dtype)
  kInt,         // integers (labels, indices, u8 images): the same dtype and values everywhere
};
enum class Role { kIn, kOut, kInOut };

struct Slot {
  std::string name;
  Role role = Role::kIn;
  Prec prec = Prec::kAct;
  Tensor init;                   // CPU values (any float dtype; ints their own); outputs: the shape only
  int64_t misalign = 0;          // under test, the data starts this many elements into its allocation
  bool exact = false;            // float output held to the CPU f32 run exactly (integers always are)
  std::optional<Tolerance> tol;  // instead of the case's
};

// Slots: activation and f32 parameter inputs, outputs (poisoned), operands updated in place
// (inout: an activation, accum: an f32 gradient the op accumulates into), and integers.
Slot in(const std::string& name, const Tensor& init);
Slot param(const std::string& name, const Tensor& init);
Slot param_as_act(const std::string& name, const Tensor& init);
Slot out(const std::string& name, const Shape& shape);
Slot param_out(const std::string& name, const Shape& shape);
Slot inout(const std::string& name, const Tensor& init);
Slot accum(const std::string& name, const Tensor& init);
Slot int_in(const std::string& name, const Tensor& init);
Slot int_out(const std::string& name, const Shape& shape, DType dtype = DType::kI32);
// The same slot, `offset` elements into its allocation under test (misaligned vector accesses).
Slot misaligned(Slot s, int64_t offset);
// The same slot, compared exactly (the CPU f32 run rounded as the kernel stores it).
Slot exact(Slot s);
// The same slot with its own tolerances.
Slot with_tol(Slot s, const Tolerance& tol);

// One run of a case, as its function sees it.
struct ParityRun {
  bool under_test = false;  // the kernel under test (else a CPU reference)
  DType act = DType::kF32;  // the activation dtype of the kernel under test
  bool lowp = false;        // the low-precision reference: CPU f32, activations rounded through act
  // In the low-precision reference, rounds `t` (a CPU f32 tensor) through act in place, as the
  // kernel does with an intermediate it stores in the activation dtype; elsewhere does nothing.
  void round_stored(Tensor& t) const;
};

struct Case {
  std::string name;
  std::vector<DType> dtypes;  // activation dtypes of the kernel under test, e.g. {f32, bf16}
  Tolerance tol;
  std::vector<Slot> slots;
  // Runs the op on tensors laid out as `slots` (outputs written in place).
  std::function<void(std::vector<Tensor>&, const ParityRun&)> run;
};

// The outputs of the kernel under test, per dtype of the case (in its order), in slot order:
// CPU f64 for floats, integers in their dtype. Empty when the test was skipped.
using ParityOutputs = std::vector<std::vector<Tensor>>;

// Runs `c` on `device` (a CUDA device; the harness's own tests pass the CPU) and on the CPU
// references, and expects every output within its rule (gtest failures name the case, dtype and
// output). On a CUDA device without a usable GPU it calls GTEST_SKIP with the reason.
ParityOutputs check_parity(const Case& c, Device device = Device::cuda(0));

// What an integer output holds before the op runs: no kernel writes these on purpose (-1 is a
// legal padding or ignore value, so it is not used).
inline constexpr int32_t kI32Poison = std::numeric_limits<int32_t>::min();
inline constexpr int64_t kI64Poison = std::numeric_limits<int64_t>::min();
inline constexpr uint8_t kU8Poison = 0xA5;

// An empty tensor of `shape` and `dtype` on `device`, `misalign` elements into its allocation,
// poisoned: NaN for floats, the k*Poison value for integers.
Tensor poisoned(const Shape& shape, DType dtype, Device device, int64_t misalign = 0);

// True when `a` and `b` (CPU, one dtype, equal sizes) hold the same integers, or the same floats
// with NaN matching NaN; `first_diff` gets the first index that differs (-1 when none).
bool same_elements(const Tensor& a, const Tensor& b, int64_t* first_diff = nullptr);

}  // namespace attncamp::test
