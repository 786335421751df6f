// One IFMR candidate quantiser, shared by its two loss estimators (sorted
// data, chunked scans) and the exact re-evaluation.
#pragma once

#include <algorithm>

#include "common/round_half_even.h"

namespace openamct::algorithms::detail {

// The quantised value of x is round(clamp(x, lo, hi) / scale) * scale.
struct GridCandidate {
  float lo;
  float hi;
  float scale;
};

// That value in the reference's float32 operations, in its order: clamp,
// divide, round half to even, multiply.
inline float quantised(float v, const GridCandidate& c) {
  return rne(std::min(std::max(v, c.lo), c.hi) / c.scale) * c.scale;
}

}  // namespace openamct::algorithms::detail
