// The order-preserving map of a float32's bits to an unsigned key (-0.0
// before +0.0, no NaN here), shared by IFMR's radix sort and its percentile
// selection: both order the data by these integer keys, a digit at a time.
#pragma once

#include <cstdint>

#include "common/float_bits.h"

namespace openamct::algorithms::detail {

inline uint32_t sort_key(float v) {
  const uint32_t u = float_bits(v);
  // ~u for a negative value, u with the sign bit set otherwise, by one xor
  // with a mask from the sign (a ?: here became a branch the random signs of
  // real data mispredict half the time).
  const uint32_t mask = static_cast<uint32_t>(static_cast<int32_t>(u) >> 31) | 0x80000000u;
  return u ^ mask;
}

inline float from_sort_key(uint32_t key) {
  return bits_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

constexpr uint32_t kPosZeroKey = 0x80000000u;  // sort_key(+0.0f)
constexpr uint32_t kNegZeroKey = 0x7fffffffu;  // sort_key(-0.0f)

}  // namespace openamct::algorithms::detail
