// Python's float repr, built on std::to_chars' shortest round-trip digits.
//
// to_chars(value, chars_format::scientific) without a precision gives the
// shortest digit string that reads back as the same value (ties broken towards
// the closest decimal), which is the digit string Python's repr uses (David
// Gay's dtoa in mode 0). Only the layout differs, and Python's layout
// (float_repr_style 'short', Objects/floatobject.c + Python/pystrtod.c) is:
//   * positional when the decimal point position `decpt` (value =
//     0.DIGITS x 10^decpt) satisfies -4 < decpt <= 16, else scientific;
//   * positional values always show a fractional part (".0" if none);
//   * scientific values show "e", a sign and at least two exponent digits,
//     and no ".0" when there is a single digit ("1e+16", "5e-324").
#include "config/float_repr.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <system_error>

#include "openamct/errors.h"

namespace openamct {
namespace {

// The shortest round-trip digits of a finite, non-negative value, split into
// the significant digits (no leading zeros, except "0" for zero) and the
// exponent of the first digit, so that value = D.DDD x 10^exponent.
struct ShortestDigits {
  std::string digits;
  int exponent = 0;
};

template <typename Float>
ShortestDigits shortest_digits(Float value) {
  char buffer[64];
  const std::to_chars_result result = std::to_chars(
      buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  OPENAMCT_INTERNAL_ASSERT(result.ec == std::errc(),
                           "to_chars failed on a finite floating-point value");
  const std::string text(buffer, result.ptr);
  // text is "D[.DDD]e(+|-)XX"; the sign of the value was stripped by the
  // caller.
  const std::size_t e_pos = text.find('e');
  OPENAMCT_INTERNAL_ASSERT(e_pos != std::string::npos,
                           "to_chars scientific output without exponent: " +
                               text);
  ShortestDigits out;
  for (std::size_t i = 0; i < e_pos; ++i) {
    if (text[i] != '.') out.digits.push_back(text[i]);
  }
  out.exponent = std::atoi(text.c_str() + e_pos + 1);
  return out;
}

std::string positional(const ShortestDigits& d) {
  const int n = static_cast<int>(d.digits.size());
  const int decpt = d.exponent + 1;  // digits before the decimal point
  if (decpt <= 0) {
    return "0." + std::string(static_cast<std::size_t>(-decpt), '0') +
           d.digits;
  }
  if (decpt < n) {
    return d.digits.substr(0, static_cast<std::size_t>(decpt)) + "." +
           d.digits.substr(static_cast<std::size_t>(decpt));
  }
  return d.digits + std::string(static_cast<std::size_t>(decpt - n), '0') +
         ".0";
}

std::string scientific(const ShortestDigits& d) {
  std::string out(1, d.digits[0]);
  if (d.digits.size() > 1) out += "." + d.digits.substr(1);
  out += d.exponent < 0 ? "e-" : "e+";
  const int magnitude = std::abs(d.exponent);
  if (magnitude < 10) out += '0';
  out += std::to_string(magnitude);
  return out;
}

}  // namespace

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  const std::string sign = std::signbit(value) ? "-" : "";
  const ShortestDigits d = shortest_digits(std::fabs(value));
  const int decpt = d.exponent + 1;
  const bool use_positional = decpt > -4 && decpt <= 16;
  return sign + (use_positional ? positional(d) : scientific(d));
}

double float32_to_python_float(float value) {
  // numpy's str(float32) prints the shortest decimal that round-trips in
  // float32 (Dragon4, unique mode); float() reads that decimal as a double.
  // Scientific format on purpose: in fixed format to_chars writes large
  // integral values exactly (266358048) instead of their shortest digits
  // (266358050).
  if (std::isnan(value)) return std::nan("");
  if (std::isinf(value)) return static_cast<double>(value);
  char buffer[64];
  const std::to_chars_result written = std::to_chars(
      buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  OPENAMCT_INTERNAL_ASSERT(written.ec == std::errc(),
                           "to_chars failed on a finite float32 value");
  double parsed = 0.0;
  const std::from_chars_result read =
      std::from_chars(buffer, written.ptr, parsed);
  OPENAMCT_INTERNAL_ASSERT(
      read.ec == std::errc() && read.ptr == written.ptr,
      "cannot read back float32 digits: " + std::string(buffer, written.ptr));
  return parsed;
}

}  // namespace openamct
