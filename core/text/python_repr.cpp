// Python 3's repr() of str (Objects/unicodeobject.c, unicode_repr) and of a
// list of str.
//
// Quote: ' unless the text contains ' and no ". Escaped: the backslash, the
// chosen quote, \t \n \r, other ASCII controls and DEL as \xNN, and non-ASCII
// characters that Python does not consider printable as \xNN, \uNNNN or
// \UNNNNNNNN (lowercase hex). Every other character is kept as it is.
//
// The input is UTF-8. A byte that does not start a valid UTF-8 sequence is
// written as \xNN: these texts go into error messages, which must not fail
// themselves.
#include "text/python_repr.h"

#include <cstdint>
#include <string>
#include <vector>

namespace openamct {
namespace {

// Assigned code points >= 0x80 that str.isprintable() rejects (categories
// Cc, Cf, Cs, Co, Zl, Zp and Zs other than ' '), from Python 3.11's Unicode
// 14.0 database. Python also escapes unassigned code points (Cn); we keep
// them, since that set changes with every Unicode version.
struct CodePointRange {
  std::uint32_t first;
  std::uint32_t last;
};
constexpr CodePointRange kNotPrintable[] = {
    {0x80, 0xa0},        {0xad, 0xad},        {0x600, 0x605},
    {0x61c, 0x61c},      {0x6dd, 0x6dd},      {0x70f, 0x70f},
    {0x890, 0x891},      {0x8e2, 0x8e2},      {0x1680, 0x1680},
    {0x180e, 0x180e},    {0x2000, 0x200f},    {0x2028, 0x202f},
    {0x205f, 0x2064},    {0x2066, 0x206f},    {0x3000, 0x3000},
    {0xd800, 0xf8ff},    {0xfeff, 0xfeff},    {0xfff9, 0xfffb},
    {0x110bd, 0x110bd},  {0x110cd, 0x110cd},  {0x13430, 0x13438},
    {0x1bca0, 0x1bca3},  {0x1d173, 0x1d17a},  {0xe0001, 0xe0001},
    {0xe0020, 0xe007f},  {0xf0000, 0xffffd},  {0x100000, 0x10fffd},
};

bool is_printable_non_ascii(std::uint32_t cp) {
  for (const CodePointRange& r : kNotPrintable) {
    if (cp < r.first) return true;  // the table is sorted
    if (cp <= r.last) return false;
  }
  return true;
}

void append_hex(std::string& out, std::uint32_t value, int digits) {
  static const char kHex[] = "0123456789abcdef";
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) {
    out.push_back(kHex[(value >> shift) & 0xf]);
  }
}

void append_escaped_code_point(std::string& out, std::uint32_t cp) {
  if (cp <= 0xff) {
    out += "\\x";
    append_hex(out, cp, 2);
  } else if (cp <= 0xffff) {
    out += "\\u";
    append_hex(out, cp, 4);
  } else {
    out += "\\U";
    append_hex(out, cp, 8);
  }
}

}  // namespace

std::size_t decode_utf8_at(const std::string& s, std::size_t i,
                           std::uint32_t& cp) {
  const auto byte = [&](std::size_t k) {
    return static_cast<unsigned char>(s[k]);
  };
  const unsigned char b0 = byte(i);
  std::size_t len = 0;
  std::uint32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  if ((b0 & 0xe0) == 0xc0) {
    len = 2;
    cp = b0 & 0x1f;
    min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3;
    cp = b0 & 0x0f;
    min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

std::string python_str_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';

  std::string out(1, quote);
  std::size_t i = 0;
  while (i < s.size()) {
    std::uint32_t cp = 0;
    const std::size_t len = decode_utf8_at(s, i, cp);
    if (len == 0) {  // invalid UTF-8: show the raw byte
      out += "\\x";
      append_hex(out, static_cast<unsigned char>(s[i]), 2);
      ++i;
      continue;
    }
    if (cp == static_cast<std::uint32_t>(quote) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7f) {
      append_escaped_code_point(out, cp);
    } else if (cp < 0x80 || is_printable_non_ascii(cp)) {
      out.append(s, i, len);
    } else {
      append_escaped_code_point(out, cp);
    }
    i += len;
  }
  out.push_back(quote);
  return out;
}

std::string python_list_repr(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += python_str_repr(items[i]);
  }
  out += "]";
  return out;
}

}  // namespace openamct
