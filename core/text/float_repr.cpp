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
#include "text/float_repr.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include "openamct/errors.h"

namespace openamct {
namespace {

// The shortest round-trip digits of a finite, non-negative value, split into
// the significant digits (no leading zeros, except "0" for zero) and the
// exponent of the first digit, so that value = D.DDD x 10^exponent. Held in
// a fixed buffer: a double has at most 17 significant digits, and this runs
// for every float of every config written.
struct ShortestDigits {
  char digits[24];
  int count = 0;
  int exponent = 0;
};

template <typename Float>
ShortestDigits shortest_digits(Float value) {
  char buffer[64];
  const std::to_chars_result result = std::to_chars(
      buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  OPENAMCT_INTERNAL_ASSERT(result.ec == std::errc(),
                           "to_chars failed on a finite floating-point value");
  // text is "D[.DDD]e(+|-)XX"; the sign of the value was stripped by the
  // caller.
  const std::string_view text(buffer,
                              static_cast<std::size_t>(result.ptr - buffer));
  const std::size_t e_pos = text.find('e');
  OPENAMCT_INTERNAL_ASSERT(e_pos != std::string_view::npos,
                           "to_chars scientific output without exponent: " +
                               std::string(text));
  ShortestDigits out;
  OPENAMCT_INTERNAL_ASSERT(e_pos <= sizeof(out.digits),
                           "to_chars wrote more digits than a double has: " +
                               std::string(text));
  for (std::size_t i = 0; i < e_pos; ++i) {
    if (text[i] != '.') out.digits[out.count++] = text[i];
  }
  // from_chars reads a '-' but not the '+' that to_chars writes.
  const char* exponent = buffer + e_pos + 1;
  if (*exponent == '+') ++exponent;
  const std::from_chars_result read =
      std::from_chars(exponent, result.ptr, out.exponent);
  OPENAMCT_INTERNAL_ASSERT(read.ec == std::errc() && read.ptr == result.ptr,
                           "cannot read the exponent of " + std::string(text));
  return out;
}

void append_positional(std::string& out, const ShortestDigits& d) {
  const int n = d.count;
  const int decpt = d.exponent + 1;  // digits before the decimal point
  if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-decpt), '0');
    out.append(d.digits, static_cast<std::size_t>(n));
  } else if (decpt < n) {
    out.append(d.digits, static_cast<std::size_t>(decpt));
    out.push_back('.');
    out.append(d.digits + decpt, static_cast<std::size_t>(n - decpt));
  } else {
    out.append(d.digits, static_cast<std::size_t>(n));
    out.append(static_cast<std::size_t>(decpt - n), '0');
    out += ".0";
  }
}

void append_scientific(std::string& out, const ShortestDigits& d) {
  out.push_back(d.digits[0]);
  if (d.count > 1) {
    out.push_back('.');
    out.append(d.digits + 1, static_cast<std::size_t>(d.count - 1));
  }
  out += d.exponent < 0 ? "e-" : "e+";
  const int magnitude = std::abs(d.exponent);
  if (magnitude < 10) out.push_back('0');
  char buffer[8];
  const std::to_chars_result written =
      std::to_chars(buffer, buffer + sizeof(buffer), magnitude);
  out.append(buffer, written.ptr);
}

}  // namespace

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  const ShortestDigits d = shortest_digits(std::fabs(value));
  const int decpt = d.exponent + 1;
  const bool use_positional = decpt > -4 && decpt <= 16;
  // Built in place: the usual config values ("0.999999", "1e-05") fit in
  // std::string's inline buffer, so most calls allocate nothing.
  std::string out;
  if (std::signbit(value)) out.push_back('-');
  if (use_positional) {
    append_positional(out, d);
  } else {
    append_scientific(out, d);
  }
  return out;
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

std::string protobuf_float_repr(float value) {
  // text_format.py: NaN prints as str(value); anything else goes through
  // type_checkers.ToShortestFloat, which tries '{:.6g}', '{:.7g}', ... until
  // struct.pack('<f') of the parsed double gives the same float back. The
  // general format with a precision is correctly rounded in both Python and
  // to_chars, and so are from_chars and the double -> float cast.
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  const double wide = static_cast<double>(value);
  for (int precision = 6; precision <= 17; ++precision) {
    char buffer[64];
    const std::to_chars_result written =
        std::to_chars(buffer, buffer + sizeof(buffer), wide,
                      std::chars_format::general, precision);
    OPENAMCT_INTERNAL_ASSERT(written.ec == std::errc(),
                             "to_chars failed on a finite float32 value");
    double rounded = 0.0;
    const std::from_chars_result read =
        std::from_chars(buffer, written.ptr, rounded);
    OPENAMCT_INTERNAL_ASSERT(read.ec == std::errc() && read.ptr == written.ptr,
                             "cannot read back " +
                                 std::string(buffer, written.ptr));
    if (static_cast<float>(rounded) == value) return python_float_repr(rounded);
  }
  OPENAMCT_INTERNAL_ASSERT(false, "no decimal of 6 to 17 digits reads back as "
                                  "the float32 value");
  return {};
}

}  // namespace openamct
