// Python's repr(float) and float(str(numpy.float32(v))). Expected texts were
// produced by CPython 3.11 (repr) and numpy 1.24.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "text/float_repr.h"

namespace openamct {
namespace {

// ---- python_float_repr: the defaults written into every config -------------

TEST(PythonFloatRepr, PrintsPercentileAsSixNines) {
  EXPECT_EQ(python_float_repr(0.999999), "0.999999");
}

TEST(PythonFloatRepr, PrintsPointSevenAsPointSeven) {
  EXPECT_EQ(python_float_repr(0.7), "0.7");
}

TEST(PythonFloatRepr, PrintsOnePointThreeAsOnePointThree) {
  EXPECT_EQ(python_float_repr(1.3), "1.3");
}

TEST(PythonFloatRepr, PrintsSearchStepAsPointZeroOne) {
  EXPECT_EQ(python_float_repr(0.01), "0.01");
}

TEST(PythonFloatRepr, IntegralValueKeepsPointZero) {
  EXPECT_EQ(python_float_repr(20.0), "20.0");
  EXPECT_EQ(python_float_repr(100.0), "100.0");
}

TEST(PythonFloatRepr, InexactSumPrintsAllSeventeenDigits) {
  EXPECT_EQ(python_float_repr(0.1 + 0.2), "0.30000000000000004");
}

TEST(PythonFloatRepr, NegativeValueHasLeadingMinus) {
  EXPECT_EQ(python_float_repr(-2.5), "-2.5");
}

// ---- python_float_repr: where positional turns into exponent form ----------

TEST(PythonFloatRepr, TenToTheMinusFourIsPositional) {
  EXPECT_EQ(python_float_repr(1e-4), "0.0001");
}

TEST(PythonFloatRepr, TenToTheMinusFiveUsesTwoDigitExponent) {
  EXPECT_EQ(python_float_repr(1e-05), "1e-05");
}

TEST(PythonFloatRepr, LargestPositionalValuesBelowTenToTheSixteen) {
  EXPECT_EQ(python_float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(python_float_repr(9999999999999998.0), "9999999999999998.0");
}

TEST(PythonFloatRepr, TenToTheSixteenUsesExponentWithoutPointZero) {
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1e22), "1e+22");
}

TEST(PythonFloatRepr, ExponentFormKeepsAllShortestDigits) {
  EXPECT_EQ(python_float_repr(123456789012345678.0), "1.2345678901234568e+17");
}

TEST(PythonFloatRepr, ThreeDigitExponent) {
  EXPECT_EQ(python_float_repr(1.5e300), "1.5e+300");
  EXPECT_EQ(python_float_repr(std::numeric_limits<double>::max()),
            "1.7976931348623157e+308");
}

TEST(PythonFloatRepr, SmallestSubnormal) {
  EXPECT_EQ(python_float_repr(std::numeric_limits<double>::denorm_min()),
            "5e-324");
}

// ---- python_float_repr: zero and the special values -------------------------

TEST(PythonFloatRepr, ZeroIsPointZero) {
  EXPECT_EQ(python_float_repr(0.0), "0.0");
}

TEST(PythonFloatRepr, NegativeZeroKeepsItsSign) {
  EXPECT_EQ(python_float_repr(-0.0), "-0.0");
}

TEST(PythonFloatRepr, InfinitiesAreInf) {
  EXPECT_EQ(python_float_repr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(python_float_repr(-std::numeric_limits<double>::infinity()),
            "-inf");
}

TEST(PythonFloatRepr, NanIsNan) {
  EXPECT_EQ(python_float_repr(std::nan("")), "nan");
}

// ---- float32_to_python_float ------------------------------------------------

TEST(Float32ToPythonFloat, PointZeroTwoStaysPointZeroTwo) {
  EXPECT_EQ(float32_to_python_float(0.02f), 0.02);
  EXPECT_EQ(python_float_repr(float32_to_python_float(0.02f)), "0.02");
}

TEST(Float32ToPythonFloat, NineDigitInputIsRoundedToFloat32Digits) {
  EXPECT_EQ(float32_to_python_float(0.123456789f), 0.12345679);
  EXPECT_EQ(python_float_repr(float32_to_python_float(0.123456789f)),
            "0.12345679");
}

TEST(Float32ToPythonFloat, TenToTheMinusSevenPrintsInExponentForm) {
  EXPECT_EQ(float32_to_python_float(1e-7f), 1e-07);
  EXPECT_EQ(python_float_repr(float32_to_python_float(1e-7f)), "1e-07");
}

TEST(Float32ToPythonFloat, TwentyPrintsAsTwentyPointZero) {
  EXPECT_EQ(python_float_repr(float32_to_python_float(20.0f)), "20.0");
}

TEST(Float32ToPythonFloat, SixNinesStaySixNines) {
  EXPECT_EQ(float32_to_python_float(0.999999f), 0.999999);
  EXPECT_EQ(python_float_repr(float32_to_python_float(0.999999f)), "0.999999");
}

TEST(Float32ToPythonFloat, PointEightIsNotWidenedToFloat32Value) {
  // static_cast<double>(0.8f) would be 0.800000011920929.
  EXPECT_EQ(python_float_repr(float32_to_python_float(0.8f)), "0.8");
}

TEST(Float32ToPythonFloat, LargeIntegralValueUsesShortestDigits) {
  // str(numpy.float32(266358048.0)) is '266358050.0', not the exact value.
  EXPECT_EQ(python_float_repr(float32_to_python_float(266358048.0f)),
            "266358050.0");
}

TEST(Float32ToPythonFloat, NegativeZeroAndSpecialValuesPassThrough) {
  EXPECT_EQ(python_float_repr(float32_to_python_float(-0.0f)), "-0.0");
  EXPECT_EQ(python_float_repr(float32_to_python_float(
                std::numeric_limits<float>::infinity())),
            "inf");
  EXPECT_TRUE(std::isnan(
      float32_to_python_float(std::numeric_limits<float>::quiet_NaN())));
}

}  // namespace
}  // namespace openamct
