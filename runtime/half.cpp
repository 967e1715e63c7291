// IEEE half precision conversions (round to nearest even, with subnormals).
#include "runtime/half.h"

#include <cmath>

namespace attncamp {

float f16_to_float(Float16 v) {
  const uint32_t sign = (v.bits & 0x8000u) << 16;
  const uint32_t exp = (v.bits >> 10) & 0x1f;
  const uint32_t man = v.bits & 0x3ffu;
  float f;
  if (exp == 0) {
    f = std::ldexp(static_cast<float>(man), -24);
    return sign ? -f : f;
  }
  uint32_t u;
  if (exp == 31) {
    u = sign | 0x7f800000u | (man << 13);
  } else {
    u = sign | ((exp + 112) << 23) | (man << 13);
  }
  std::memcpy(&f, &u, 4);
  return f;
}

Float16 float_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const float a = std::fabs(f);
  if (std::isnan(f)) return Float16{static_cast<uint16_t>(sign | 0x7e00u)};
  if (a >= 65520.0f) return Float16{static_cast<uint16_t>(sign | 0x7c00u)};
  if (a < 6.103515625e-05f) {  // subnormal: value = man * 2^-24
    const float m = std::nearbyint(a * 16777216.0f);
    return Float16{static_cast<uint16_t>(sign | static_cast<uint16_t>(m))};
  }
  int e;
  const float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5,1)
  float man = std::nearbyint((m * 2.0f - 1.0f) * 1024.0f);
  int exp = e - 1 + 15;
  if (man >= 1024.0f) {
    man = 0;
    ++exp;
  }
  if (exp >= 31) return Float16{static_cast<uint16_t>(sign | 0x7c00u)};
  return Float16{static_cast<uint16_t>(sign | (exp << 10) | static_cast<uint16_t>(man))};
}

}  // namespace attncamp
