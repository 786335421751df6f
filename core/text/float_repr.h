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

// A float32 field as Python protobuf's text_format prints it (the record
// file): str(ToShortestFloat(v)), i.e. the first of '%.6g' ... '%.9g' that
// reads back as the same float32, then Python's repr of that double.
// 1.0f -> "1.0", 1e-5f -> "1e-05", -0.0f -> "-0.0", the smallest denormal ->
// "1.4013e-45" (not the shortest "1e-45": Python starts at 6 digits).
std::string protobuf_float_repr(float value);

}  // namespace openamct
