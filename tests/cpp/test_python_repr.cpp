// python_str_repr / python_list_repr against CPython 3.11's repr().
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "text/python_repr.h"

namespace openamct {
namespace {

TEST(PythonStrRepr, PlainNameInSingleQuotes) {
  EXPECT_EQ(python_str_repr("fc"), "'fc'");
}

TEST(PythonStrRepr, EmptyString) { EXPECT_EQ(python_str_repr(""), "''"); }

TEST(PythonStrRepr, SingleQuoteSwitchesToDoubleQuotes) {
  EXPECT_EQ(python_str_repr("it's"), "\"it's\"");
}

TEST(PythonStrRepr, DoubleQuotesAloneStayInSingleQuotes) {
  EXPECT_EQ(python_str_repr("say \"hi\""), "'say \"hi\"'");
}

TEST(PythonStrRepr, BothQuotesEscapeTheSingleQuote) {
  EXPECT_EQ(python_str_repr("both ' and \""), R"('both \' and "')");
}

TEST(PythonStrRepr, BackslashIsDoubled) {
  EXPECT_EQ(python_str_repr("a\\b"), R"('a\\b')");
}

TEST(PythonStrRepr, TabNewlineReturnUseShortEscapes) {
  EXPECT_EQ(python_str_repr("\t\n\r"), R"('\t\n\r')");
}

TEST(PythonStrRepr, OtherControlCharsAndDelUseHexEscapes) {
  EXPECT_EQ(python_str_repr(std::string("\0\x1f\x7f", 3)), R"('\x00\x1f\x7f')");
}

TEST(PythonStrRepr, PrintableNonAsciiIsKept) {
  const std::string text = "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80";  // é中😀
  EXPECT_EQ(python_str_repr(text), "'" + text + "'");
}

TEST(PythonStrRepr, NoBreakSpaceAndSoftHyphenAreEscaped) {
  EXPECT_EQ(python_str_repr("\xc2\xa0\xc2\xad"), R"('\xa0\xad')");
}

TEST(PythonStrRepr, C1ControlIsEscaped) {
  EXPECT_EQ(python_str_repr("\xc2\x85"), R"('\x85')");
}

TEST(PythonStrRepr, ZeroWidthSpaceAndLineSeparatorUseFourDigitEscapes) {
  EXPECT_EQ(python_str_repr("\xe2\x80\x8b\xe2\x80\xa8"), R"('\u200b\u2028')");
}

TEST(PythonStrRepr, NonBmpFormatCharUsesEightDigitEscape) {
  EXPECT_EQ(python_str_repr("\xf3\xa0\x80\x81"), R"('\U000e0001')");
}

TEST(PythonStrRepr, InvalidUtf8ByteIsShownAsHexInsteadOfFailing) {
  EXPECT_EQ(python_str_repr("a\xff"), R"('a\xff')");
}

TEST(PythonListRepr, EmptyListIsBrackets) {
  EXPECT_EQ(python_list_repr({}), "[]");
}

TEST(PythonListRepr, OneItemMatchesDuplicateSkipLayersMessage) {
  EXPECT_EQ(python_list_repr({"fc"}), "['fc']");
}

TEST(PythonListRepr, ItemsSeparatedByCommaSpaceEachWithItsOwnQuotes) {
  EXPECT_EQ(python_list_repr({"a", "it's"}), "['a', \"it's\"]");
}

TEST(DecodeUtf8At, ReadsMultiByteSequenceAndRejectsStrayByte) {
  std::uint32_t cp = 0;
  EXPECT_EQ(decode_utf8_at("\xe4\xb8\xad", 0, cp), 3u);
  EXPECT_EQ(cp, 0x4e2du);
  EXPECT_EQ(decode_utf8_at("\xe4\xb8\xad", 1, cp), 0u);
}

}  // namespace
}  // namespace openamct
