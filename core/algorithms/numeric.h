// Shared by the algorithm files: the input checks every algorithm makes
// (dtype, NaN/Inf, shapes) and the float32 primitives whose exact rounding
// the reference fixes (round half to even, torch's float floor division).
// Internal to core/algorithms.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/float_bits.h"
#include "common/round_half_even.h"

namespace openamct::algorithms::detail {

// Python's repr of a dtype ("torch.float64").
std::string torch_dtype_name(at::ScalarType t);

// "activation" or "weight": the word of the reference's messages.
// Throws TypeError for a dtype other than float32/float16 and RuntimeError
// "The <what> to be quantized has invalid value inf or nan!" for NaN/Inf.
void check_quant_data(const at::Tensor& t, const char* what);
// The dtype and device part of check_quant_data only (the caller checks the values).
void check_quant_dtype(const at::Tensor& t, const char* what);
[[noreturn]] void throw_invalid_value(const char* what);

// The smallest and largest of n > 0 float32 values, and whether all are
// finite, in one vectorised pass (HFMG reads its batches once for the three,
// ARQ its weight rows). Equal values differ only in the sign of a zero: min
// is the first minimum; max the last maximum by default, as
// std::minmax_element gives them, or the first, as a running std::max does.
// Min and max are meaningless when `finite` is false.
struct FiniteRange {
  bool finite;
  float min, max;
};
enum class ZeroSign { kFirst, kLast };
FiniteRange finite_min_max(const float* p, int64_t n, ZeroSign max_zero = ZeroSign::kLast);

// A contiguous float32 CPU copy (or view) of a float32/float16 tensor.
at::Tensor as_float32(const at::Tensor& t);

// Advises the kernel to back [p, p + bytes) with transparent huge pages (the
// whole 2 MiB pages inside it), before its first touch. The algorithms' large
// scratch buffers (IFMR's kept data and sort buffers: 4 bytes per element,
// written once, read a few times) otherwise pay one page fault per 4 KiB and
// a TLB miss per scattered store: on this kind of VM that was half of IFMR's
// time. Only advice: a kernel without THP (or with it off) ignores it.
void advise_huge_pages(void* p, size_t bytes);

// ValueError unless num_bits is in `allowed`; names the function.
void check_num_bits(const char* func, int64_t num_bits, const std::vector<int64_t>& allowed);

// A float's bits (common/).
using ::openamct::float_bits;

// Round half to even, as torch.round / nearbyint in the default mode (common/).
using ::openamct::rne;

// torch's floor division for floats (c10 div_floor_floating): fmod, then
// (a - mod) / b, corrected by one toward -inf, then floor with a 0.5 guard.
// fmodf(a, b) for finite a, b != 0, exactly (the remainder is representable):
// the quotient in double, the remainder a - q*b exact in double, one fix-up.
inline float exact_fmod(float a, float b) {
  const double q = std::trunc(static_cast<double>(a) / static_cast<double>(b));
  if (!(std::fabs(q) < 1e7)) return std::fmod(a, b);
  double m = static_cast<double>(a) - q * static_cast<double>(b);
  const double ab = std::fabs(static_cast<double>(b));
  if (m != 0.0 && ((m < 0.0) != (a < 0.0))) m += (m < 0.0) ? ab : -ab;  // q one too far
  if (std::fabs(m) >= ab) m += (m < 0.0) ? ab : -ab;                   // q one short
  return static_cast<float>(m);
}

inline float floor_divide(float a, float b) {
  if (b == 0.0f) return a / b;
  float mod = std::isfinite(a) && std::isfinite(b) ? exact_fmod(a, b) : std::fmod(a, b);
  float div = (a - mod) / b;
  if (mod != 0.0f && ((b < 0.0f) != (mod < 0.0f))) div -= 1.0f;
  float floordiv;
  if (div != 0.0f) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5f) floordiv += 1.0f;
  } else {
    floordiv = std::copysign(0.0f, a / b);
  }
  return floordiv;
}

// static_cast<int64_t>(v) (truncation) clamped to [lo, hi] first, so that a
// NaN, an Inf or a huge value never reaches the undefined conversion.
inline int64_t trunc_index(float v, int64_t lo, int64_t hi) {
  if (!(v >= static_cast<float>(lo))) return lo;  // NaN too
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int64_t>(v);
}

// torch.argmin of a non-empty float vector: the first NaN if there is one,
// else the first minimum.
inline size_t torch_argmin(const std::vector<float>& v) {
  size_t best = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) return i;
    if (v[i] < v[best]) best = i;
  }
  return best;
}

// torch.arange(start, end, step) for float32 output on the CPU: the count in
// double, each value start + i * step in double, rounded to float32.
std::vector<float> arange_f32(double start, double end, double step);

// "{}" formatting of a double the way Python's str() prints it, for messages.
std::string py_float(double v);

}  // namespace openamct::algorithms::detail
