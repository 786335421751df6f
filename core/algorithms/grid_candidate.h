// One IFMR candidate quantiser, shared by its two loss estimators (sorted
// data, chunked scans) and the exact re-evaluation.
#pragma once

namespace openamct::algorithms::detail {

// The quantised value of x is round(clamp(x, lo, hi) / scale) * scale.
struct GridCandidate {
  float lo;
  float hi;
  float scale;
};

}  // namespace openamct::algorithms::detail
