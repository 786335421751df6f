// Round half to even in plain float arithmetic, shared by the calibration
// algorithms and the saved models' passes (both need torch.round's /
// nearbyint's bits in loops that must vectorise).
//
// Why not std::nearbyint: on the baseline x86-64 target (no SSE4.1 roundss)
// it is a libm call per element, which kept every quantisation loop scalar
// and slower than torch's vectorised kernels. Below 2^23, adding and
// subtracting 2^23 leaves a float with no fraction bits, so the sum is
// rounded to an integer by the FPU's own round-half-to-even (the parity of
// 2^23 + k is k's); |v| >= 2^23 (and Inf, NaN) is already integral. The sign
// is put back so that -0.3 gives -0.0 as torch.round does.
// The choice between the two is made on the bits of |v| (as unsigned
// integers they order like the values, NaN above Inf), not by a float
// comparison: under GCC's default -ftrapping-math a select on a float
// comparison is not if-converted, and every loop calling rne stayed scalar.
// Needs the default rounding mode and no -ffast-math (nothing here changes
// either).
#pragma once

#include <cmath>
#include <cstdint>

#include "common/float_bits.h"

namespace openamct {

inline float rne(float v) {
  constexpr float kTwo23 = 8388608.0f;
  constexpr uint32_t kTwo23Bits = 0x4B000000u;
  const float a = std::fabs(v);
  const float r = std::copysign((a + kTwo23) - kTwo23, v);
  const uint32_t take_r = 0u - static_cast<uint32_t>(float_bits(a) < kTwo23Bits);
  return bits_float((float_bits(r) & take_r) | (float_bits(v) & ~take_r));
}

}  // namespace openamct
