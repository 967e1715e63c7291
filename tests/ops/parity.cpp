// The parity harness (see parity.h): builds each run's tensors from the slots (inputs rounded
// through what the kernel reads, outputs poisoned), runs the case under test and on the CPU
// references, and applies the f32, low-precision and exact rules to every output.
#include "tests/ops/parity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

namespace attncamp::test {

namespace {

Slot make_slot(const std::string& name, Role role, Prec prec, const Tensor& init) {
  Slot s;
  s.name = name;
  s.role = role;
  s.prec = prec;
  s.init = init;
  return s;
}

}  // namespace

Slot in(const std::string& name, const Tensor& init) { return make_slot(name, Role::kIn, Prec::kAct, init); }
Slot param(const std::string& name, const Tensor& init) { return make_slot(name, Role::kIn, Prec::kParam, init); }
Slot param_as_act(const std::string& name, const Tensor& init) {
  return make_slot(name, Role::kIn, Prec::kParamAsAct, init);
}
Slot out(const std::string& name, const Shape& shape) {
  return make_slot(name, Role::kOut, Prec::kAct, Tensor::empty(shape, DType::kF64));
}
Slot param_out(const std::string& name, const Shape& shape) {
  return make_slot(name, Role::kOut, Prec::kParam, Tensor::empty(shape, DType::kF64));
}
Slot inout(const std::string& name, const Tensor& init) { return make_slot(name, Role::kInOut, Prec::kAct, init); }
Slot accum(const std::string& name, const Tensor& init) { return make_slot(name, Role::kInOut, Prec::kParam, init); }
Slot int_in(const std::string& name, const Tensor& init) { return make_slot(name, Role::kIn, Prec::kInt, init); }
Slot int_out(const std::string& name, const Shape& shape, DType dtype) {
  return make_slot(name, Role::kOut, Prec::kInt, Tensor::empty(shape, dtype));
}
Slot misaligned(Slot s, int64_t offset) {
  s.misalign = offset;
  return s;
}
Slot exact(Slot s) {
  s.exact = true;
  return s;
}
Slot with_tol(Slot s, const Tolerance& tol) {
  s.tol = tol;
  return s;
}

void ParityRun::round_stored(Tensor& t) const {
  if (lowp) t.copy_from(to_dtype(round_through(t, act), t.dtype()));
}

Tensor poisoned(const Shape& shape, DType dtype, Device device, int64_t misalign) {
  const int64_t n = shape_numel(shape);
  Tensor t = Tensor::empty({misalign + n}, dtype, device).slice(misalign, misalign + n).view(shape);
  switch (dtype) {
    case DType::kI32:
    case DType::kI64:
    case DType::kU8: {
      Tensor host = Tensor::empty(shape, dtype);
      for (int64_t i = 0; i < n; ++i) {
        if (dtype == DType::kI32) host.data<int32_t>()[i] = kI32Poison;
        if (dtype == DType::kI64) host.data<int64_t>()[i] = kI64Poison;
        if (dtype == DType::kU8) host.data<uint8_t>()[i] = kU8Poison;
      }
      t.copy_from(host);
      break;
    }
    default: t.poison();  // every byte 0xFF: NaN in each float dtype
  }
  return t;
}

bool same_elements(const Tensor& a, const Tensor& b, int64_t* first_diff) {
  if (first_diff != nullptr) *first_diff = -1;
  if (a.dtype() != b.dtype() || a.numel() != b.numel()) return false;
  const bool is_int = a.dtype() == DType::kI32 || a.dtype() == DType::kI64 || a.dtype() == DType::kU8;
  const Tensor x = is_int ? a : to_dtype(a, DType::kF64), y = is_int ? b : to_dtype(b, DType::kF64);
  const size_t width = dtype_size(x.dtype());
  const auto* px = static_cast<const char*>(x.raw_data());
  const auto* py = static_cast<const char*>(y.raw_data());
  for (int64_t i = 0; i < x.numel(); ++i) {
    bool same = std::memcmp(px + i * width, py + i * width, width) == 0;
    if (!is_int) {
      const double u = x.data<double>()[i], v = y.data<double>()[i];
      same = u == v || (std::isnan(u) && std::isnan(v));
    }
    if (!same) {
      if (first_diff != nullptr) *first_diff = i;
      return false;
    }
  }
  return true;
}

namespace {

// The four runs of a case for one activation dtype.
enum class Side { kUnderTest, kRef64, kRef32, kLowp };

// The dtype a slot's tensor has in a run.
DType slot_dtype(const Slot& s, Side side, DType act) {
  if (s.prec == Prec::kInt) return s.init.dtype();
  if (side == Side::kRef64) return DType::kF64;
  if (side == Side::kUnderTest && s.prec == Prec::kAct) return act;
  return DType::kF32;
}

// CPU f64 values of a float input in a run: what the kernel under test reads.
Tensor input_values(const Slot& s, Side side, DType act) {
  if (s.prec == Prec::kAct) return round_through(s.init, act);
  const Tensor v = round_through(s.init, DType::kF32);
  return s.prec == Prec::kParamAsAct && side != Side::kUnderTest ? round_through(v, act) : v;
}

// Runs `c` on one side; returns its outputs in slot order (CPU f64 floats, rounded through act
// for the low-precision reference's activations; integers as they are).
std::vector<Tensor> run_side(const Case& c, Side side, DType act, Device device) {
  const bool under_test = side == Side::kUnderTest;
  const Device dev = under_test ? device : Device::cpu();
  std::vector<Tensor> ts;
  for (const Slot& s : c.slots) {
    const DType dt = slot_dtype(s, side, act);
    Tensor t = poisoned(s.init.shape(), dt, dev, under_test ? s.misalign : 0);
    if (s.role != Role::kOut) t.copy_from(s.prec == Prec::kInt ? s.init : to_dtype(input_values(s, side, act), dt));
    ts.push_back(t);
  }
  ParityRun r;
  r.under_test = under_test;
  r.act = act;
  r.lowp = side == Side::kLowp;
  c.run(ts, r);
  std::vector<Tensor> outs;
  for (size_t k = 0; k < ts.size(); ++k) {
    const Slot& s = c.slots[k];
    if (s.role == Role::kIn) continue;
    const Tensor host = ts[k].to(Device::cpu());
    if (s.prec == Prec::kInt) {
      outs.push_back(host);
    } else {
      const Tensor v = to_dtype(host, DType::kF64);
      outs.push_back(r.lowp && s.prec == Prec::kAct ? round_through(v, act) : v);
    }
  }
  return outs;
}

std::vector<const Slot*> output_slots(const Case& c) {
  std::vector<const Slot*> o;
  for (const Slot& s : c.slots) {
    if (s.role != Role::kIn) o.push_back(&s);
  }
  return o;
}

void expect_same(const Tensor& got, const Tensor& ref, const std::string& what) {
  int64_t i = -1;
  EXPECT_TRUE(same_elements(got, ref, &i)) << what << " is not exactly the CPU's: first difference at element " << i;
}

void skip(const std::string& why) { GTEST_SKIP() << why; }

}  // namespace

ParityOutputs check_parity(const Case& c, Device device) {
  if (!device.is_cpu()) {
    const std::string why = gpu_unavailable_reason();
    if (!why.empty()) {
      skip(why);
      return {};
    }
  }
  const std::vector<const Slot*> outs = output_slots(c);
  ParityOutputs all;
  for (DType act : c.dtypes) {
    const std::string run_name = c.name + " " + dtype_name(act);
    const std::vector<Tensor> got = run_side(c, Side::kUnderTest, act, device);
    const bool f32 = act == DType::kF32;
    // Exact outputs meet the CPU f32 run: ref32 for f32, ref_lowp for the 16-bit dtypes.
    const std::vector<Tensor> ref32 = run_side(c, f32 ? Side::kRef32 : Side::kLowp, act, Device::cpu());
    const std::vector<Tensor> ref64 = f32 ? std::vector<Tensor>() : run_side(c, Side::kRef64, act, Device::cpu());
    for (size_t k = 0; k < outs.size(); ++k) {
      const Slot& s = *outs[k];
      const std::string what = run_name + ", output " + s.name;
      if (s.exact || s.prec == Prec::kInt) {
        expect_same(got[k], ref32[k], what);
        continue;
      }
      const Tolerance& tol = s.tol ? *s.tol : c.tol;
      if (f32) {
        EXPECT_LE(max_abs_diff(got[k], ref32[k]), tol.f32.at(max_abs(ref32[k]))) << what << ": max|out - ref32|";
        continue;
      }
      const double allowed = lowp_tolerance(ref64[k], ref32[k], tol.lowp_eps.at(max_abs(ref64[k])));
      EXPECT_TRUE(std::isfinite(allowed)) << what << ": the f64 and low-precision references disagree by NaN or inf";
      EXPECT_LE(max_abs_diff(got[k], ref64[k]), allowed) << what << ": max|out - ref64|";
    }
    all.push_back(got);
  }
  return all;
}

}  // namespace attncamp::test
