// A float's IEEE bits as an unsigned integer and back (memcpy: the one
// defined way in C++17). Shared by the rounding helper, the saved models'
// numerics and IFMR's sort, which all choose or order on bits: integer
// operations the compiler vectorises where float comparisons would not be.
#pragma once

#include <cstdint>
#include <cstring>

namespace openamct {

inline uint32_t float_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

inline float bits_float(uint32_t u) {
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

}  // namespace openamct
