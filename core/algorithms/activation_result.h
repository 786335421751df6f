// The representable range that IFMR and HFMG return beside scale/offset
// (spec §6.4): the reference's float32 expressions, in its order.
#pragma once

#include <cstdint>

#include "openamct/algorithms.h"

namespace openamct::algorithms::detail {

inline ActivationQuant make_activation_quant(float scale, float offset, int64_t num_bits) {
  const float pos = static_cast<float>((int64_t{1} << (num_bits - 1)) - 1);
  const float neg = static_cast<float>(int64_t{1} << (num_bits - 1));
  ActivationQuant r;
  r.scale = scale;
  r.offset = static_cast<int32_t>(offset);
  r.clip_max = (pos - offset) * scale;
  r.clip_min = (neg + offset) * -scale;
  return r;
}

}  // namespace openamct::algorithms::detail
