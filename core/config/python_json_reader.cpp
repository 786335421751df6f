// A port of the decoding paths of CPython 3.11's json module (the C scanner
// of Modules/_json.c: scan_once_unicode, _parse_object_unicode,
// _parse_array_unicode, scanstring_unicode, _match_number_unicode; and
// json.decoder's JSONDecodeError / raw_decode). The file is decoded first
// (open(..., 'r'): UTF-8, universal newlines), then parsed over code points,
// because Python's error positions count characters.
#include "config/python_json_reader.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "text/python_repr.h"
#include "config/config_defaults.h"
#include "text/float_repr.h"
#include "openamct/errors.h"

namespace openamct {
namespace {

// Python's recursion limit is 1000 frames; the JSON scanner uses one per
// nested container, and the caller's frames take some.
constexpr int kMaxDepth = 950;

// Signals json's StopIteration(idx): "Expecting value" at idx.
struct StopIteration {
  std::size_t idx;
};

void append_utf8(std::string& out, uint32_t cp) {
  // Lone surrogates (from \ud800 escapes) are kept as their 3-byte form, as
  // a Python str can hold them; they never equal a module name.
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// open(path, 'r').read(): UTF-8 (strict) with '\r\n' and '\r' read as '\n'.
std::vector<uint32_t> decode_text(const std::string& bytes) {
  std::vector<uint32_t> out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    uint32_t cp = 0;
    const std::size_t n = decode_utf8_at(bytes, i, cp);
    if (n == 0) {
      const unsigned char b = static_cast<unsigned char>(bytes[i]);
      const int want = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
      const char* reason = (b < 0xC2 || b > 0xF4) ? "invalid start byte"
                           : i + want > bytes.size() ? "unexpected end of data"
                                                     : "invalid continuation byte";
      char message[160];
      std::snprintf(message, sizeof(message),
                    "'utf-8' codec can't decode byte 0x%02x in position %zu: %s", b, i, reason);
      throw_value_error(std::string(message) +
                        " (the config file must be UTF-8 text, as create_quant_config writes it)");
    }
    if (cp == '\r') {
      out.push_back('\n');
      if (i + 1 < bytes.size() && bytes[i + 1] == '\n') ++i;
    } else {
      out.push_back(cp);
    }
    i += n;
  }
  return out;
}

bool is_ws(uint32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }

class Scanner {
 public:
  Scanner(const std::vector<uint32_t>& s, const std::string& path) : s_(s), path_(path) {}

  JsonValue document() {
    std::size_t idx = skip_ws(0);
    JsonValue v;
    try {
      v = scan_once(idx, &idx, 0);
    } catch (const StopIteration& stop) {
      fail("Expecting value", stop.idx);
    }
    idx = skip_ws(idx);
    if (idx != s_.size()) fail("Extra data", idx);
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what, std::size_t pos) const {
    std::size_t line = 1, last_newline = 0;
    bool any_newline = false;
    for (std::size_t i = 0; i < pos && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        last_newline = i;
        any_newline = true;
      }
    }
    const std::size_t column = any_newline ? pos - last_newline : pos + 1;
    throw_value_error(what + ": line " + std::to_string(line) + " column " +
                      std::to_string(column) + " (char " + std::to_string(pos) + ")");
  }

  std::size_t skip_ws(std::size_t idx) const {
    while (idx < s_.size() && is_ws(s_[idx])) ++idx;
    return idx;
  }

  bool matches(std::size_t idx, const char* word) const {
    for (std::size_t k = 0; word[k]; ++k)
      if (idx + k >= s_.size() || s_[idx + k] != static_cast<unsigned char>(word[k])) return false;
    return true;
  }

  JsonValue scan_once(std::size_t idx, std::size_t* next, int depth) {
    if (idx >= s_.size()) throw StopIteration{idx};
    JsonValue v;
    const uint32_t c = s_[idx];
    switch (c) {
      case '"':
        v.kind = JsonValue::Kind::kString;
        v.text = scan_string(idx + 1, next);
        return v;
      case '{':
      case '[':
        if (depth >= kMaxDepth)
          throw_runtime_error(std::string("maximum recursion depth exceeded while decoding a "
                                          "JSON ") +
                              (c == '{' ? "object" : "array") + " from a unicode string");
        return c == '{' ? parse_object(idx + 1, next, depth + 1)
                        : parse_array(idx + 1, next, depth + 1);
      default:
        break;
    }
    struct Literal {
      const char* word;
      JsonValue::Kind kind;
      double number;
      bool boolean;
    };
    static const Literal kLiterals[] = {
        {"null", JsonValue::Kind::kNull, 0.0, false},
        {"true", JsonValue::Kind::kBool, 1.0, true},
        {"false", JsonValue::Kind::kBool, 0.0, false},
        {"NaN", JsonValue::Kind::kFloat, std::numeric_limits<double>::quiet_NaN(), false},
        {"Infinity", JsonValue::Kind::kFloat, std::numeric_limits<double>::infinity(), false},
        {"-Infinity", JsonValue::Kind::kFloat, -std::numeric_limits<double>::infinity(), false}};
    for (const Literal& l : kLiterals) {
      if (matches(idx, l.word)) {
        v.kind = l.kind;
        v.number = l.number;
        v.boolean = l.boolean;
        v.integer = l.boolean ? 1 : 0;
        *next = idx + std::char_traits<char>::length(l.word);
        return v;
      }
    }
    return match_number(idx, next);
  }

  JsonValue match_number(std::size_t start, std::size_t* next) {
    std::size_t idx = start;
    const std::size_t n = s_.size();
    if (idx < n && s_[idx] == '-') {
      ++idx;
      if (idx >= n) throw StopIteration{start};
    }
    if (idx < n && s_[idx] >= '1' && s_[idx] <= '9') {
      while (idx < n && is_digit(s_[idx])) ++idx;
    } else if (idx < n && s_[idx] == '0') {
      ++idx;
    } else {
      throw StopIteration{start};
    }
    bool is_float = false;
    if (idx + 1 < n && s_[idx] == '.' && is_digit(s_[idx + 1])) {
      is_float = true;
      idx += 2;
      while (idx < n && is_digit(s_[idx])) ++idx;
    }
    if (idx < n && (s_[idx] == 'e' || s_[idx] == 'E')) {
      const std::size_t e_start = idx;
      ++idx;
      if (idx < n && (s_[idx] == '-' || s_[idx] == '+')) ++idx;
      const std::size_t digits = idx;
      while (idx < n && is_digit(s_[idx])) ++idx;
      if (idx > digits)
        is_float = true;
      else
        idx = e_start;
    }
    std::string text;
    for (std::size_t i = start; i < idx; ++i) text += static_cast<char>(s_[i]);
    *next = idx;
    JsonValue v;
    if (is_float) {
      v.kind = JsonValue::Kind::kFloat;
      v.number = std::strtod(text.c_str(), nullptr);  // overflow gives inf, as float() does
      return v;
    }
    v.kind = JsonValue::Kind::kInt;
    v.text = text;
    errno = 0;
    const long long value = std::strtoll(text.c_str(), nullptr, 10);  // saturates
    v.integer = static_cast<int64_t>(value);
    v.number = std::strtod(text.c_str(), nullptr);
    return v;
  }

  std::string scan_string(std::size_t end, std::size_t* next_out) {
    const std::size_t begin = end - 1;
    const std::size_t len = s_.size();
    std::string out;
    while (true) {
      std::size_t next = end;
      uint32_t c = 0;
      for (; next < len; ++next) {
        c = s_[next];
        if (c == '"' || c == '\\') break;
        if (c <= 0x1f) fail("Invalid control character at", next);
      }
      if (next >= len) fail("Unterminated string starting at", begin);
      for (std::size_t i = end; i < next; ++i) append_utf8(out, s_[i]);
      ++next;
      if (c == '"') {
        end = next;
        break;
      }
      if (next == len) fail("Unterminated string starting at", begin);
      c = s_[next];
      if (c != 'u') {
        end = next + 1;
        switch (c) {
          case '"': case '\\': case '/': break;
          case 'b': c = '\b'; break;
          case 'f': c = '\f'; break;
          case 'n': c = '\n'; break;
          case 'r': c = '\r'; break;
          case 't': c = '\t'; break;
          default: fail("Invalid \\escape", end - 2);
        }
        append_utf8(out, c);
        continue;
      }
      ++next;
      end = next + 4;
      if (end >= len) fail("Invalid \\uXXXX escape", next - 1);
      c = read_hex4(next, end);
      if (c >= 0xD800 && c <= 0xDBFF && end + 6 < len && s_[end] == '\\' && s_[end + 1] == 'u') {
        const uint32_t c2 = read_hex4(end + 2, end + 6);
        if (c2 >= 0xDC00 && c2 <= 0xDFFF) {
          c = 0x10000 + (((c - 0xD800) << 10) | (c2 - 0xDC00));
          end += 6;
        }
      }
      append_utf8(out, c);
    }
    *next_out = end;
    return out;
  }

  uint32_t read_hex4(std::size_t from, std::size_t end) {
    uint32_t value = 0;
    for (std::size_t i = from; i < end; ++i) {
      const uint32_t h = s_[i];
      uint32_t digit;
      if (h >= '0' && h <= '9') digit = h - '0';
      else if (h >= 'a' && h <= 'f') digit = h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') digit = h - 'A' + 10;
      else fail("Invalid \\uXXXX escape", end - 5);
      value = (value << 4) | digit;
    }
    return value;
  }

  JsonValue parse_object(std::size_t idx, std::size_t* next, int depth) {
    JsonValue v;
    v.kind = JsonValue::Kind::kObject;
    idx = skip_ws(idx);
    if (idx >= s_.size() || s_[idx] != '}') {
      while (true) {
        if (idx >= s_.size() || s_[idx] != '"')
          fail("Expecting property name enclosed in double quotes", idx);
        std::size_t after = 0;
        std::string key = scan_string(idx + 1, &after);
        idx = skip_ws(after);
        if (idx >= s_.size() || s_[idx] != ':') fail("Expecting ':' delimiter", idx);
        idx = skip_ws(idx + 1);
        JsonValue value = scan_once(idx, &after, depth);
        v.members.emplace_back(std::move(key), std::move(value));
        idx = skip_ws(after);
        if (idx < s_.size() && s_[idx] == '}') break;
        if (idx >= s_.size() || s_[idx] != ',') fail("Expecting ',' delimiter", idx);
        idx = skip_ws(idx + 1);
      }
    }
    *next = idx + 1;
    // The reference's object_pairs_hook, called as each object closes.
    std::vector<std::string> keys;
    keys.reserve(v.members.size());
    for (const auto& m : v.members) keys.push_back(m.first);
    check_no_repeated_items(keys, path_);
    return v;
  }

  JsonValue parse_array(std::size_t idx, std::size_t* next, int depth) {
    JsonValue v;
    v.kind = JsonValue::Kind::kArray;
    idx = skip_ws(idx);
    if (idx >= s_.size() || s_[idx] != ']') {
      while (true) {
        std::size_t after = 0;
        v.items.push_back(scan_once(idx, &after, depth));
        idx = skip_ws(after);
        if (idx < s_.size() && s_[idx] == ']') break;
        if (idx >= s_.size() || s_[idx] != ',') fail("Expecting ',' delimiter", idx);
        idx = skip_ws(idx + 1);
      }
    }
    *next = idx + 1;
    return v;
  }

  const std::vector<uint32_t>& s_;
  const std::string& path_;
};

}  // namespace

const JsonValue* JsonValue::find(const std::string& key) const {
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

const char* JsonValue::python_type() const {
  switch (kind) {
    case Kind::kNull: return "<class 'NoneType'>";
    case Kind::kBool: return "<class 'bool'>";
    case Kind::kInt: return "<class 'int'>";
    case Kind::kFloat: return "<class 'float'>";
    case Kind::kString: return "<class 'str'>";
    case Kind::kArray: return "<class 'list'>";
    case Kind::kObject: return "<class 'dict'>";
  }
  return "<class 'object'>";
}

std::string JsonValue::python_str() const {
  switch (kind) {
    case Kind::kNull: return "None";
    case Kind::kBool: return boolean ? "True" : "False";
    case Kind::kInt: return text;
    case Kind::kFloat: return python_float_repr(number);
    case Kind::kString: return text;
    case Kind::kArray: return "[...]";
    case Kind::kObject: return "{...}";
  }
  return "";
}

JsonValue parse_python_json(const std::string& text, const std::string& path) {
  const std::vector<uint32_t> chars = decode_text(text);
  if (!chars.empty() && chars[0] == 0xFEFF)
    throw_value_error("Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)");
  return Scanner(chars, path).document();
}

}  // namespace openamct
