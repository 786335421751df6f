// python_json_dumps / python_json_string against the bytes CPython 3.11 writes
// for json.dumps(obj, indent=4, separators=(',', ':')); the expected texts
// below were produced by Python and pasted here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "openamct/errors.h"
#include "text/python_json.h"

namespace openamct {
namespace {

using nlohmann::ordered_json;

TEST(PythonJsonDumps, SmallConfigMatchesPythonBytes) {
  ordered_json act;
  act["num_bits"] = 8;
  act["max_percentile"] = 0.999999;
  act["min_percentile"] = 0.999999;
  act["search_range"] = ordered_json::array({0.7, 1.3});
  act["search_step"] = 0.01;
  act["act_algo"] = "ifmr";
  act["asymmetric"] = false;
  ordered_json wts;
  wts["num_bits"] = 8;
  wts["channel_wise"] = true;
  wts["wts_algo"] = "arq_quantize";
  ordered_json layer;
  layer["quant_enable"] = true;
  layer["activation_quant_params"] = act;
  layer["weight_quant_params"] = wts;
  ordered_json doc;
  doc["version"] = 1;
  doc["batch_num"] = 2;
  doc["activation_offset"] = true;
  doc["do_fusion"] = true;
  doc["skip_fusion_layers"] = ordered_json::array();
  doc["conv1"] = layer;

  // No newline after the closing brace: json.dump writes none.
  const std::string expected = R"json({
    "version":1,
    "batch_num":2,
    "activation_offset":true,
    "do_fusion":true,
    "skip_fusion_layers":[],
    "conv1":{
        "quant_enable":true,
        "activation_quant_params":{
            "num_bits":8,
            "max_percentile":0.999999,
            "min_percentile":0.999999,
            "search_range":[
                0.7,
                1.3
            ],
            "search_step":0.01,
            "act_algo":"ifmr",
            "asymmetric":false
        },
        "weight_quant_params":{
            "num_bits":8,
            "channel_wise":true,
            "wts_algo":"arq_quantize"
        }
    }
})json";
  EXPECT_EQ(python_json_dumps(doc), expected);
}

TEST(PythonJsonDumps, KeysKeepInsertionOrderNotAlphabetical) {
  ordered_json doc;
  doc["zeta"] = 1;
  doc["alpha"] = 2;
  EXPECT_EQ(python_json_dumps(doc), "{\n    \"zeta\":1,\n    \"alpha\":2\n}");
}

TEST(PythonJsonDumps, EmptyContainersAndScalarsMatchPython) {
  ordered_json doc;
  doc["empty_dict"] = ordered_json::object();
  doc["empty_list"] = ordered_json::array();
  doc["none"] = nullptr;
  doc["neg"] = -3;
  doc["u64"] = std::numeric_limits<std::uint64_t>::max();
  doc["i64min"] = std::numeric_limits<std::int64_t>::min();
  doc["twenty"] = 20.0;
  doc["small"] = 1e-05;
  doc["big"] = 1e16;
  doc["sum"] = 0.1 + 0.2;
  doc["nested"] = ordered_json::array(
      {ordered_json::array(), ordered_json::array({1, ordered_json::array({2})}),
       ordered_json::object(), ordered_json{{"a", ordered_json::object()}}});

  const std::string expected = R"json({
    "empty_dict":{},
    "empty_list":[],
    "none":null,
    "neg":-3,
    "u64":18446744073709551615,
    "i64min":-9223372036854775808,
    "twenty":20.0,
    "small":1e-05,
    "big":1e+16,
    "sum":0.30000000000000004,
    "nested":[
        [],
        [
            1,
            [
                2
            ]
        ],
        {},
        {
            "a":{}
        }
    ]
})json";
  EXPECT_EQ(python_json_dumps(doc), expected);
}

TEST(PythonJsonDumps, TopLevelEmptyListIsBrackets) {
  EXPECT_EQ(python_json_dumps(ordered_json::array()), "[]");
}

TEST(PythonJsonDumps, TopLevelEmptyDictIsBraces) {
  EXPECT_EQ(python_json_dumps(ordered_json::object()), "{}");
}

TEST(PythonJsonDumps, TopLevelScalars) {
  EXPECT_EQ(python_json_dumps(ordered_json("x")), "\"x\"");
  EXPECT_EQ(python_json_dumps(ordered_json(3.0)), "3.0");
  EXPECT_EQ(python_json_dumps(ordered_json(nullptr)), "null");
}

TEST(PythonJsonDumps, SpecialFloatsUsePythonsJavaScriptNames) {
  const ordered_json doc = ordered_json::array(
      {std::nan(""), std::numeric_limits<double>::infinity(),
       -std::numeric_limits<double>::infinity(), -0.0});
  EXPECT_EQ(python_json_dumps(doc),
            "[\n    NaN,\n    Infinity,\n    -Infinity,\n    -0.0\n]");
}

TEST(PythonJsonDumps, NonAsciiKeyIsEscaped) {
  ordered_json doc;
  doc["caf\xc3\xa9.conv"] = 1;  // "café.conv"
  EXPECT_EQ(python_json_dumps(doc), "{\n    \"caf\\u00e9.conv\":1\n}");
}

TEST(PythonJsonString, AsciiTextIsOnlyQuoted) {
  EXPECT_EQ(python_json_string("layer1.0.conv"), "\"layer1.0.conv\"");
}

TEST(PythonJsonString, EmptyStringIsTwoQuotes) {
  EXPECT_EQ(python_json_string(""), "\"\"");
}

TEST(PythonJsonString, QuoteBackslashAndShortEscapes) {
  // json.dumps('"\\/\n\r\t\b\f'); the slash is not escaped.
  EXPECT_EQ(python_json_string("\"\\/\n\r\t\b\f"),
            R"("\"\\/\n\r\t\b\f")");
}

TEST(PythonJsonString, OtherControlCharsAndDelUseLowercaseUnicodeEscapes) {
  EXPECT_EQ(python_json_string("\x7f\x01\x1f"), R"("\u007f\u0001\u001f")");
}

TEST(PythonJsonString, NulByteIsEscaped) {
  EXPECT_EQ(python_json_string(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(PythonJsonString, LatinLetterIsEscaped) {
  EXPECT_EQ(python_json_string("layer.\xc3\xa9"), R"("layer.\u00e9")");
}

TEST(PythonJsonString, CjkCharacterIsEscaped) {
  EXPECT_EQ(python_json_string("\xe4\xb8\xad"), R"("\u4e2d")");  // 中
}

TEST(PythonJsonString, NonBmpCharacterBecomesSurrogatePair) {
  EXPECT_EQ(python_json_string("\xf0\x9f\x98\x80"), R"("\ud83d\ude00")");
}

TEST(PythonJsonString, LineSeparatorAndBomAreEscaped) {
  EXPECT_EQ(python_json_string("\xe2\x80\xa8\xef\xbb\xbf"),
            R"("\u2028\ufeff")");
}

void expect_invalid_utf8(const std::string& text) {
  try {
    python_json_string(text);
    ADD_FAILURE() << "no error for invalid UTF-8";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"),
              std::string::npos)
        << e.what();
  }
}

TEST(PythonJsonString, StrayContinuationByteIsValueError) {
  expect_invalid_utf8("ab\x80");
}

TEST(PythonJsonString, TruncatedSequenceIsValueError) {
  expect_invalid_utf8("ab\xe4\xb8");
}

TEST(PythonJsonString, OverlongEncodingIsValueError) {
  expect_invalid_utf8("\xc0\xaf");  // overlong '/'
}

TEST(PythonJsonString, EncodedSurrogateIsValueError) {
  expect_invalid_utf8("\xed\xa0\x80");  // U+D800
}

TEST(PythonJsonString, CodePointAboveUnicodeRangeIsValueError) {
  expect_invalid_utf8("\xf4\x90\x80\x80");  // U+110000
}

TEST(PythonJsonString, InvalidByteMessageShowsTheByteAndOffset) {
  try {
    python_json_string("ab\xff");
    ADD_FAILURE() << "no error for invalid UTF-8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'ab\\xff'"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("byte 2"), std::string::npos)
        << e.what();
  }
}

TEST(PythonJsonDumps, InvalidUtf8InsideDocumentIsValueError) {
  ordered_json doc;
  doc["layer"] = std::string("bad\xfe");
  EXPECT_THROW(python_json_dumps(doc), Error);
}

}  // namespace
}  // namespace openamct
