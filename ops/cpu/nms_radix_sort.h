// Stable LSD radix sort of (key, value) pairs by unsigned key for the CPU selection ops (score
// order, grouping by class): 8 bits a pass, a pass skipped when every key has the same byte there
// (class ids below 256 sort in one pass), so sorting n pairs costs O(n) per byte that varies.
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace attncamp::ops::cpu {

// Sorts keys ascending and permutes values alike; equal keys keep their order.
template <class K, class V>
void radix_sort_pairs(std::vector<K>& keys, std::vector<V>& values) {
  static_assert(std::is_unsigned_v<K>, "radix_sort_pairs sorts unsigned keys");
  const size_t n = keys.size();
  std::vector<K> key_buf(n);
  std::vector<V> value_buf(n);
  for (unsigned shift = 0; shift < 8 * sizeof(K); shift += 8) {
    std::array<size_t, 257> start{};
    for (size_t i = 0; i < n; ++i) ++start[((keys[i] >> shift) & 0xFF) + 1];
    bool trivial = false;
    for (size_t b = 1; b <= 256; ++b) trivial |= start[b] == n;
    if (trivial) continue;
    for (size_t b = 1; b <= 256; ++b) start[b] += start[b - 1];
    for (size_t i = 0; i < n; ++i) {
      const size_t to = start[(keys[i] >> shift) & 0xFF]++;
      key_buf[to] = keys[i];
      value_buf[to] = values[i];
    }
    keys.swap(key_buf);
    values.swap(value_buf);
  }
}

}  // namespace attncamp::ops::cpu
