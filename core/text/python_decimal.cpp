// Decimal arithmetic on the digit strings of Python's str(float): exact up to
// the rounding of Python's default context, with no floating point in between.
#include "text/python_decimal.h"

#include <algorithm>
#include <string>
#include <utility>

#include "text/float_repr.h"

namespace openamct {
namespace {

// Significant digits of Python's default decimal context.
constexpr size_t kDefaultContextPrecision = 28;

std::string strip_leading_zeros(const std::string& digits) {
  const size_t first = digits.find_first_not_of('0');
  return first == std::string::npos ? "0" : digits.substr(first);
}

// Parses what python_float_repr writes for a finite value: "0.001", "20.0",
// "-1.5e-05", "1e+16".
PythonDecimal decimal_from_repr(const std::string& text) {
  PythonDecimal d;
  size_t i = 0;
  if (i < text.size() && text[i] == '-') d.neg = true, ++i;
  std::string digits;
  int exponent = 0;
  for (; i < text.size() && text[i] != 'e'; ++i) {
    if (text[i] == '.') continue;
    digits.push_back(text[i]);
  }
  const size_t dot = text.find('.');
  const size_t e = text.find('e');
  if (dot != std::string::npos) {
    const size_t mantissa_end = e == std::string::npos ? text.size() : e;
    exponent -= static_cast<int>(mantissa_end - dot - 1);
  }
  if (e != std::string::npos) exponent += std::stoi(text.substr(e + 1));
  d.magnitude = strip_leading_zeros(digits);
  d.exponent = exponent;
  if (d.magnitude == "0") d.neg = false;
  return d;
}

// Compares two non-negative digit strings without leading zeros.
int compare_magnitudes(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
}

std::string add_magnitudes(const std::string& a, const std::string& b) {
  std::string out;
  int carry = 0;
  for (size_t i = 0; i < std::max(a.size(), b.size()) || carry; ++i) {
    int sum = carry;
    if (i < a.size()) sum += a[a.size() - 1 - i] - '0';
    if (i < b.size()) sum += b[b.size() - 1 - i] - '0';
    out.push_back(static_cast<char>('0' + sum % 10));
    carry = sum / 10;
  }
  std::reverse(out.begin(), out.end());
  return strip_leading_zeros(out);
}

// a - b for a >= b.
std::string subtract_magnitudes(const std::string& a, const std::string& b) {
  std::string out;
  int borrow = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    int diff = a[a.size() - 1 - i] - '0' - borrow;
    if (i < b.size()) diff -= b[b.size() - 1 - i] - '0';
    borrow = diff < 0;
    out.push_back(static_cast<char>('0' + (diff + 10) % 10));
  }
  std::reverse(out.begin(), out.end());
  return strip_leading_zeros(out);
}

// Both magnitudes scaled to the smaller exponent.
std::pair<std::string, std::string> aligned(const PythonDecimal& a, const PythonDecimal& b, int* exponent) {
  *exponent = std::min(a.exponent, b.exponent);
  std::string ma = a.magnitude == "0" ? "0" : a.magnitude + std::string(a.exponent - *exponent, '0');
  std::string mb = b.magnitude == "0" ? "0" : b.magnitude + std::string(b.exponent - *exponent, '0');
  return {ma, mb};
}

}  // namespace

int decimal_compare(const PythonDecimal& a, const PythonDecimal& b) {
  const int sa = a.magnitude == "0" ? 0 : (a.neg ? -1 : 1);
  const int sb = b.magnitude == "0" ? 0 : (b.neg ? -1 : 1);
  if (sa != sb) return sa < sb ? -1 : 1;
  if (sa == 0) return 0;
  int exponent = 0;
  auto [ma, mb] = aligned(a, b, &exponent);
  const int c = compare_magnitudes(ma, mb);
  return sa > 0 ? c : -c;
}

namespace {

// Rounds to `precision` significant digits, half to even (Python's default
// decimal context).
PythonDecimal rounded(PythonDecimal d, size_t precision) {
  if (d.magnitude.size() <= precision) return d;
  const size_t drop = d.magnitude.size() - precision;
  std::string kept = d.magnitude.substr(0, precision);
  const std::string rest = d.magnitude.substr(precision);
  const int first = rest[0] - '0';
  const bool beyond_half = rest.find_first_not_of('0', 1) != std::string::npos;
  const bool odd = (kept.back() - '0') % 2 == 1;
  if (first > 5 || (first == 5 && (beyond_half || odd))) kept = add_magnitudes(kept, "1");
  d.magnitude = kept;
  d.exponent += static_cast<int>(drop);
  return d;
}

}  // namespace

PythonDecimal decimal_subtract(const PythonDecimal& a, const PythonDecimal& b) {
  PythonDecimal out;
  int exponent = 0;
  auto [ma, mb] = aligned(a, b, &exponent);
  out.exponent = exponent;
  if (a.neg != b.neg) {  // a - (-|b|) = a + |b|, -|a| - b = -(|a| + b)
    out.magnitude = add_magnitudes(ma, mb);
    out.neg = a.neg;
  } else if (compare_magnitudes(ma, mb) >= 0) {
    out.magnitude = subtract_magnitudes(ma, mb);
    out.neg = a.neg;
  } else {
    out.magnitude = subtract_magnitudes(mb, ma);
    out.neg = !a.neg;
  }
  if (out.magnitude == "0") out.neg = false;
  return rounded(out, kDefaultContextPrecision);
}

PythonDecimal decimal_from_float_str(double value) {
  return decimal_from_repr(python_float_repr(value));
}

}  // namespace openamct
