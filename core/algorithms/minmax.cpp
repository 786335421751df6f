// The min-max rule (spec §8.1): the scale/offset of a [min, max] range, used
// by HFMG for its searched range and by ARQ for every weight row.
#include <cmath>
#include <cstdint>

#include "numeric.h"
#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace openamct::algorithms {

namespace {

// The reference's check_scale_offset: a scale whose value or inverse is not
// finite, or a non-finite offset, is an error.
void check_scale_offset(float scale, float offset) {
  if (!std::isfinite(scale) || !std::isfinite(1.0f / scale))
    throw_runtime_error("Param scale has invalid value inf, nan or zeros!");
  if (!std::isfinite(offset)) throw_runtime_error("Param offset has invalid value inf or nan!");
}

}  // namespace

ScaleOffset minmax_scale_offset(float max_val, float min_val, bool asymmetric, int64_t num_bits) {
  detail::check_num_bits("minmax_scale_offset", num_bits,
                         {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  // A NaN or Inf end makes the reference's scale non-finite.
  if (!std::isfinite(max_val) || !std::isfinite(min_val))
    throw_runtime_error("Param scale has invalid value inf, nan or zeros!");
  ScaleOffset r;
  if (asymmetric) {
    const float hi = max_val > 0.0f ? max_val : 0.0f;  // clamp(max, 0, None)
    const float lo = min_val < 0.0f ? min_val : 0.0f;  // clamp(min, None, 0)
    const int64_t q = (int64_t{1} << num_bits) - 1;
    const float half = -static_cast<float>((q + 1) / 2);  // -ceil(q / 2)
    float scale = (hi - lo) / static_cast<float>(q);
    float offset = hi != lo ? half - lo / scale : half;
    if (scale < kFltEpsilon) {
      offset = -static_cast<float>(int64_t{1} << (num_bits - 1));
      scale = 1.0f;
    }
    check_scale_offset(scale, offset);
    r.scale = scale;
    r.offset = static_cast<int32_t>(detail::rne(offset));
  } else {
    const float amax = std::fabs(max_val), amin = std::fabs(min_val);
    const bool negative = amax < amin;
    const float bound = amax > amin ? amax : amin;
    const int64_t divisor = (int64_t{1} << (num_bits - 1)) - 1 + (negative ? 1 : 0);
    float scale = bound / static_cast<float>(divisor);
    if (scale < kFltEpsilon) scale = 1.0f;
    check_scale_offset(scale, 0.0f);
    r.scale = scale;
    r.offset = 0;
  }
  return r;
}

}  // namespace openamct::algorithms
