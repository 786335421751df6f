// Python's decimal.Decimal, as much of it as the reference's config checks
// use: Decimal(str(x)) of a float, subtraction in the default context (28
// significant digits, ROUND_HALF_EVEN) and comparison. The check that
// search_step fits search_range needs it (0.6 fits [0.7, 1.3] although
// 1.3 - 0.7 < 0.6 in binary floating point).
#pragma once

#include <string>

namespace openamct {

// value = (neg ? -1 : 1) * magnitude * 10^exponent; magnitude is a string of
// decimal digits without leading zeros ("0" for zero).
struct PythonDecimal {
  bool neg = false;
  std::string magnitude = "0";
  int exponent = 0;
};

// Decimal(str(value)) for a finite `value`.
PythonDecimal decimal_from_float_str(double value);

// a - b, rounded like Python's default decimal context (28 significant
// digits, half to even).
PythonDecimal decimal_subtract(const PythonDecimal& a, const PythonDecimal& b);

// -1, 0 or 1 as a <, == or > b.
int decimal_compare(const PythonDecimal& a, const PythonDecimal& b);

}  // namespace openamct
