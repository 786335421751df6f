// Number formatting that matches Python.
#pragma once

#include <string>

namespace openamct {

// Python's repr(float): shortest round-trip digits; "20.0" for integral
// values; exponent form "1e-05" / "1e+16" below 1e-4 or from 1e16 on;
// "inf", "-inf", "nan" as Python writes them ("Infinity"/"NaN" in JSON are
// the JSON writer's business).
std::string python_float_repr(double value);

// float(str(numpy.float32(v))): the float32 value re-expressed as the
// shortest decimal that round-trips in float32, read back as a double.
// 0.02f -> 0.02, 0.123456789f -> 0.12345679, 1e-7f -> 1e-07.
double float32_to_python_float(float value);

}  // namespace openamct
