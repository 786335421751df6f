// Python's json.dumps(obj, indent=4, separators=(',', ':')), ensure_ascii and
// allow_nan left at their defaults (Lib/json/encoder.py, _make_iterencode):
//
//   {                      an object or array opens, then each item sits on
//       "key":value,       its own line, indented 4 more spaces, items
//       "list":[           separated by ",", the closing bracket back at the
//           0.7,           parent's indentation; empty containers are
//           1.3            "{}" and "[]"; no newline after the last bracket.
//       ]
//   }
#include "config/python_json.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "common/python_repr.h"
#include "config/float_repr.h"
#include "openamct/errors.h"

namespace openamct {
namespace {

constexpr int kIndent = 4;

void append_hex4(std::string& out, std::uint32_t value) {
  static const char kHex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) {
    out.push_back(kHex[(value >> shift) & 0xf]);
  }
}

// float.__repr__, except that JSON has no spelling for the special values:
// Python's encoder writes NaN, Infinity and -Infinity (allow_nan=True).
std::string json_float(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value < 0 ? "-Infinity" : "Infinity";
  return python_float_repr(value);
}

void newline_and_indent(std::string& out, int level) {
  out.push_back('\n');
  out.append(static_cast<std::size_t>(level * kIndent), ' ');
}

void append_value(std::string& out, const nlohmann::ordered_json& value,
                  int level) {
  using value_t = nlohmann::ordered_json::value_t;
  switch (value.type()) {
    case value_t::null:
      out += "null";
      return;
    case value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case value_t::number_integer:
      out += std::to_string(value.get<std::int64_t>());
      return;
    case value_t::number_unsigned:
      out += std::to_string(value.get<std::uint64_t>());
      return;
    case value_t::number_float:
      out += json_float(value.get<double>());
      return;
    case value_t::string:
      out += python_json_string(value.get_ref<const std::string&>());
      return;
    case value_t::array: {
      if (value.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      bool first = true;
      for (const auto& item : value) {
        if (!first) out.push_back(',');
        first = false;
        newline_and_indent(out, level + 1);
        append_value(out, item, level + 1);
      }
      newline_and_indent(out, level);
      out.push_back(']');
      return;
    }
    case value_t::object: {
      if (value.empty()) {
        out += "{}";
        return;
      }
      out.push_back('{');
      bool first = true;
      for (const auto& item : value.items()) {
        if (!first) out.push_back(',');
        first = false;
        newline_and_indent(out, level + 1);
        out += python_json_string(item.key());
        out.push_back(':');
        append_value(out, item.value(), level + 1);
      }
      newline_and_indent(out, level);
      out.push_back('}');
      return;
    }
    case value_t::binary:
    case value_t::discarded:
      break;
  }
  OPENAMCT_INTERNAL_ASSERT(false, std::string("python_json_dumps got a ") +
                                      value.type_name() +
                                      " value, which Python's json cannot "
                                      "hold");
}

}  // namespace

std::string python_json_dumps(const nlohmann::ordered_json& value) {
  std::string out;
  append_value(out, value, 0);
  return out;
}

std::string python_json_string(const std::string& utf8) {
  // json.encoder.py_encode_basestring_ascii: escape '"', '\\' and every
  // character outside ' '..'~' (so DEL and all non-ASCII too).
  std::string out = "\"";
  std::size_t i = 0;
  while (i < utf8.size()) {
    std::uint32_t cp = 0;
    const std::size_t len = decode_utf8_at(utf8, i, cp);
    if (len == 0) {
      throw Error(ErrorKind::kValue,
                  "cannot write " + python_str_repr(utf8) +
                      " to a JSON file: it is not valid UTF-8 (byte " +
                      std::to_string(i) +
                      "); layer names and other texts must be valid UTF-8");
    }
    i += len;
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp >= 0x20 && cp <= 0x7e) {
      out.push_back(static_cast<char>(cp));
    } else if (cp <= 0xffff) {
      append_hex4(out, cp);
    } else {  // outside the BMP: a UTF-16 surrogate pair
      const std::uint32_t v = cp - 0x10000;
      append_hex4(out, 0xd800 | (v >> 10));
      append_hex4(out, 0xdc00 | (v & 0x3ff));
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace openamct
