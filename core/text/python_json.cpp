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
#include "text/python_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>

#include "openamct/errors.h"
#include "text/float_repr.h"
#include "text/python_repr.h"

namespace openamct {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kIndent = 4;

// Room reserved per member of the root: a config's root holds one member per
// layer, about 500 bytes of text each, so reserving that up front saves the
// dozen regrowths (and copies) of the text. Capped, so that a document with
// many small members does not hold far more memory than it needs.
constexpr std::size_t kReservePerRootItem = 512;
constexpr std::size_t kMaxReserve = std::size_t{1} << 20;

// The bytes json.encoder's ESCAPE_ASCII leaves as they are: printable ASCII
// other than the quote and the backslash.
bool is_plain(unsigned char c) {
  return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
}

void append_hex4(std::string& out, std::uint32_t value) {
  static const char kHex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) {
    out.push_back(kHex[(value >> shift) & 0xf]);
  }
}

[[noreturn]] void throw_not_utf8(const std::string& utf8, std::size_t at) {
  throw Error(ErrorKind::kValue,
              "cannot write " + python_str_repr(utf8) +
                  " to a JSON file: it is not valid UTF-8 (byte " +
                  std::to_string(at) +
                  "); layer names and other texts must be valid UTF-8");
}

// Escapes the character that starts at byte `i`, which is not a plain byte,
// and returns its length in bytes.
std::size_t append_escaped_char(std::string& out, const std::string& utf8,
                                std::size_t i) {
  std::uint32_t cp = 0;
  const std::size_t len = decode_utf8_at(utf8, i, cp);
  if (len == 0) throw_not_utf8(utf8, i);
  switch (cp) {
    case '"': out += "\\\""; return len;
    case '\\': out += "\\\\"; return len;
    case '\n': out += "\\n"; return len;
    case '\r': out += "\\r"; return len;
    case '\t': out += "\\t"; return len;
    case '\b': out += "\\b"; return len;
    case '\f': out += "\\f"; return len;
    default: break;
  }
  if (cp <= 0xffff) {  // other controls, DEL and the rest of the BMP
    append_hex4(out, cp);
  } else {  // outside the BMP: a UTF-16 surrogate pair
    const std::uint32_t v = cp - 0x10000;
    append_hex4(out, 0xd800 | (v >> 10));
    append_hex4(out, 0xdc00 | (v & 0x3ff));
  }
  return len;
}

// json.encoder.py_encode_basestring_ascii: escape '"', '\\' and every
// character outside ' '..'~' (so DEL and all non-ASCII too).
void append_json_string(std::string& out, const std::string& utf8) {
  out.push_back('"');
  const std::size_t size = utf8.size();
  std::size_t i = 0;
  while (i < size) {
    // Copy each run of plain bytes in one append: keys and layer names are
    // nearly always plain from end to end and need no UTF-8 decoding.
    std::size_t end = i;
    while (end < size && is_plain(static_cast<unsigned char>(utf8[end]))) {
      ++end;
    }
    out.append(utf8.data() + i, end - i);
    if (end == size) break;
    i = end + append_escaped_char(out, utf8, end);
  }
  out.push_back('"');
}

// Same digits as std::to_string, without building a string per number.
template <typename Integer>
void append_integer(std::string& out, Integer value) {
  char buffer[24];  // the 20 digits of UINT64_MAX, or '-' and 19 digits
  const std::to_chars_result result =
      std::to_chars(std::begin(buffer), std::end(buffer), value);
  out.append(buffer, result.ptr);
}

// float.__repr__, except that JSON has no spelling for the special values:
// Python's encoder writes NaN, Infinity and -Infinity (allow_nan=True).
void append_float(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value < 0 ? "-Infinity" : "Infinity";
  } else {
    out += python_float_repr(value);
  }
}

void newline_and_indent(std::string& out, int level) {
  out.push_back('\n');
  out.append(static_cast<std::size_t>(level * kIndent), ' ');
}

// A list or a dict, as _iterencode_list and _iterencode_dict lay them out:
// the same brackets, commas and indentation; `append_item` writes one item
// (a value, or "key":value).
template <typename Items, typename AppendItem>
void append_container(std::string& out, const Items& items, char open, char close, int level,
                      AppendItem append_item) {
  out.push_back(open);
  if (items.empty()) {
    out.push_back(close);
    return;
  }
  bool first = true;
  for (const auto& item : items) {
    if (!first) out.push_back(',');
    first = false;
    newline_and_indent(out, level + 1);
    append_item(item);
  }
  newline_and_indent(out, level);
  out.push_back(close);
}

void append_value(std::string& out, const Json& value, int level) {
  using value_t = Json::value_t;
  switch (value.type()) {
    case value_t::null:
      out += "null";
      return;
    case value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case value_t::number_integer:
      append_integer(out, value.get<std::int64_t>());
      return;
    case value_t::number_unsigned:
      append_integer(out, value.get<std::uint64_t>());
      return;
    case value_t::number_float:
      append_float(out, value.get<double>());
      return;
    case value_t::string:
      append_json_string(out, value.get_ref<const std::string&>());
      return;
    case value_t::array:
      append_container(out, value.get_ref<const Json::array_t&>(), '[', ']', level,
                       [&](const Json& item) { append_value(out, item, level + 1); });
      return;
    case value_t::object:
      append_container(out, value.get_ref<const Json::object_t&>(), '{', '}', level,
                       [&](const auto& member) {
                         append_json_string(out, member.first);
                         out.push_back(':');
                         append_value(out, member.second, level + 1);
                       });
      return;
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
  out.reserve(std::min(kMaxReserve, kReservePerRootItem * value.size()));
  append_value(out, value, 0);
  return out;
}

std::string python_json_string(const std::string& utf8) {
  std::string out;
  out.reserve(utf8.size() + 2);  // exact when nothing needs escaping
  append_json_string(out, utf8);
  return out;
}

}  // namespace openamct
