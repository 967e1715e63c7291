// Conversions between float and the 16-bit storage types (round to nearest even).
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/dtype.h"

namespace attncamp {

inline float bf16_to_float(BFloat16 v) {
  uint32_t u = static_cast<uint32_t>(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline BFloat16 float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu)) return BFloat16{static_cast<uint16_t>((u >> 16) | 0x40)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return BFloat16{static_cast<uint16_t>(u >> 16)};
}

float f16_to_float(Float16 v);
Float16 float_to_f16(float f);

}  // namespace attncamp
