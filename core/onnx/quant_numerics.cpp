// §13 numerics of the saved models (see quant_numerics.h). std::nearbyint
// rounds half to even in the default floating-point environment, which
// nothing in OpenAMCT changes.
#include "onnx/quant_numerics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/float_bits.h"
#include "common/round_half_even.h"

namespace openamct {
namespace onnx_passes {

float quant_scale(float scale_d) {
  return static_cast<float>(1.0 / static_cast<double>(scale_d));
}

float dequant_scale(float scale_w, float scale_d) {
  const float deq = scale_w * scale_d;
  return deq;
}

uint64_t dequant_word(float scale_w, float scale_d, int32_t offset_w) {
  const uint32_t bits = float_bits(dequant_scale(scale_w, scale_d));
  const uint8_t offset_byte = static_cast<uint8_t>(offset_w);
  return static_cast<uint64_t>(bits) | (static_cast<uint64_t>(offset_byte) << 32);
}

float dequant_word_scale(uint64_t word) {
  return bits_float(static_cast<uint32_t>(word & 0xFFFFFFFFu));
}

bool quantize_weight(float w, float scale_w, int32_t offset_w, int bits, int32_t* out) {
  const float scaled = w / scale_w;
  const float shifted = scaled + static_cast<float>(offset_w);
  const float q = std::nearbyint(shifted);
  if (std::isnan(q)) return false;
  // 2^(bits - 1) without a libm call per weight (ldexp was a sixth of save_model).
  const float half = bits >= 1 && bits <= 31 ? static_cast<float>(int64_t{1} << (bits - 1))
                                             : std::ldexp(1.0f, bits - 1);
  const float lo = -half;
  const float hi = half - 1.0f;
  *out = static_cast<int32_t>(std::min(std::max(q, lo), hi));
  return true;
}

namespace {

// The loop of quantize_weights_int8 with the scale and offset as the caller
// indexes them; both forms vectorise.
template <class ScaleAt, class OffsetAt>
bool quantize_int8_loop(const float* w, int64_t n, ScaleAt scale, OffsetAt offset, int bits,
                        int8_t* out) {
  const float half = static_cast<float>(int64_t{1} << (bits - 1));
  const float lo = -half, hi = half - 1.0f;
  // NaN is found and replaced by 0 (no NaN cast) through its bits: a select
  // on a float comparison would keep the loop scalar (see rne).
  uint32_t nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float q = std::min(std::max(rne(w[i] / scale(i) + offset(i)), lo), hi);  // NaN stays NaN
    const uint32_t q_bits = float_bits(q);
    const uint32_t is_nan = 0u - static_cast<uint32_t>((q_bits & 0x7fffffffu) > 0x7f800000u);
    nan |= is_nan;
    const float clamped = bits_float(q_bits & ~is_nan);
    out[i] = static_cast<int8_t>(static_cast<int32_t>(clamped));
  }
  return nan == 0;
}

}  // namespace

bool quantize_weights_int8(const float* w, int64_t n, const float* scale_w,
                           const int32_t* offset_w, int stride, int bits, int8_t* out) {
  if (stride == 0) {
    const float s = scale_w[0], o = static_cast<float>(offset_w[0]);
    return quantize_int8_loop(
        w, n, [s](int64_t) { return s; }, [o](int64_t) { return o; }, bits, out);
  }
  return quantize_int8_loop(
      w, n, [scale_w](int64_t i) { return scale_w[i]; },
      [offset_w](int64_t i) { return static_cast<float>(offset_w[i]); }, bits, out);
}

bool quantize_bias(float b, float deq, int32_t* out) {
  const float ratio = b / deq;
  const float q = std::nearbyint(ratio);
  if (!(q >= -2147483648.0f && q < 2147483648.0f)) return false;
  *out = static_cast<int32_t>(q);
  return true;
}

float reciprocal(float s) { return 1.0f / s; }

namespace {
template <typename T>
void to_float_bytes(const char* in, size_t n, char* out) {
  for (size_t i = 0; i < n; ++i) {
    T x;
    std::memcpy(&x, in + i * sizeof(T), sizeof(T));
    const float f = static_cast<float>(x);
    std::memcpy(out + i * sizeof(float), &f, sizeof(float));
  }
}
}  // namespace

void int8_to_float_bytes(const char* in, size_t n, char* out) {
  to_float_bytes<int8_t>(in, n, out);
}
void int32_to_float_bytes(const char* in, size_t n, char* out) {
  to_float_bytes<int32_t>(in, n, out);
}

}  // namespace onnx_passes
}  // namespace openamct
