// The arithmetic of the saved models (spec §13), in one place so that the
// deploy and fake-quant passes cannot disagree: every operation float32 and
// rounded on its own (this folder is built with -ffp-contract=off), rounding
// half to even.
#pragma once

#include <cstddef>
#include <cstdint>

namespace openamct {
namespace onnx_passes {

// AscendQuant.scale and the fake-quant scale: 1/scale_d in double, rounded to float32.
float quant_scale(float scale_d);
// float32 scale_w × scale_d.
float dequant_scale(float scale_w, float scale_d);
// The AscendDequant word: low 32 bits = bits of dequant_scale, bits 32–39 =
// uint8(offset_w) (K3).
uint64_t dequant_word(float scale_w, float scale_d, int32_t offset_w);
// The float32 held in a dequant word's low 32 bits.
float dequant_word_scale(uint64_t word);
// clamp(rne(w / s + o), −2^(b−1), 2^(b−1)−1); false when that is NaN (a NaN
// weight, or 0/0 with a zero scale).
bool quantize_weight(float w, float scale_w, int32_t offset_w, int bits, int32_t* out);
// quantize_weight of n weights into int8 (bits <= 8), each with its own
// scale and offset (stride 1) or all with the first (stride 0); false when
// any is NaN (the caller finds which with quantize_weight). Branch-free: the
// loop vectorises, where a libm nearbyint call per weight kept it scalar.
bool quantize_weights_int8(const float* w, int64_t n, const float* scale_w,
                           const int32_t* offset_w, int stride, int bits, int8_t* out);
// rne(float32(b / deq)); false when the result leaves int32.
bool quantize_bias(float b, float deq, int32_t* out);
// 1/s in float32 (the DMQ Constant).
float reciprocal(float s);
// n integers (int8 or int32, raw bytes in memory order) as float32 raw bytes,
// as static_cast converts them: the fake-quant model's integer-valued
// weights and biases. Vectorised (this file is built with -O3).
void int8_to_float_bytes(const char* in, size_t n, char* out);
void int32_to_float_bytes(const char* in, size_t n, char* out);

}  // namespace onnx_passes
}  // namespace openamct
