// A step-by-step port of the error paths of Python protobuf's text_format
// (google/protobuf/text_format.py, 3.21 / 4.21: Tokenizer, _ParseOrMerge,
// _MergeField, _MergeMessageField, _MergeScalarField, ParseInteger,
// ParseFloat, ParseBool, ParseEnum) in Merge mode. Names in comments are
// Python's. Lines are the text split at '\n'; Python decodes each one
// (UTF-8) when its tokenizer first reaches it, and measures columns in
// characters, so positions are kept as byte offsets and converted when an
// error is reported.
#include "simple_config/python_text_format.h"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "text/python_repr.h"

namespace openamct {
namespace {

namespace pb = google::protobuf;

struct Failure {
  PythonTextFormatError error;
};

// ---- UTF-8 and Python's character classes ---------------------------------------

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The code point at byte `i` of valid UTF-8 text, and its length.
uint32_t code_point_at(const std::string& s, size_t i, size_t* length) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (i + n > s.size()) n = 1;
  uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  *length = static_cast<size_t>(n);
  return cp;
}

// str.isspace(), which `\s` matches in a str pattern.
bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_ascii_digit(uint32_t cp) { return cp >= '0' && cp <= '9'; }

// `\w` in a str pattern (alphanumeric or '_'). Exact for ASCII and Latin-1;
// elsewhere every code point outside the common punctuation, symbol and
// space blocks counts as a word character.
bool is_word(uint32_t cp) {
  if (cp < 0x80) return std::isalnum(static_cast<int>(cp)) || cp == '_';
  if (cp < 0x100)
    return cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA ||
           (cp >= 0xBC && cp <= 0xBE) || (cp >= 0xC0 && cp != 0xD7 && cp != 0xF7);
  if (is_space(cp)) return false;
  const uint32_t not_word[][2] = {{0x2000, 0x206F}, {0x20A0, 0x20CF}, {0x2190, 0x23FF},
                                  {0x2500, 0x27BF}, {0x2E00, 0x2E7F}, {0x3000, 0x3004},
                                  {0x3008, 0x3020}, {0xFE30, 0xFE4F}, {0xFF00, 0xFF0F},
                                  {0xFF1A, 0xFF20}, {0x1F000, 0x1FAFF}};
  for (const auto& r : not_word)
    if (cp >= r[0] && cp <= r[1]) return false;
  return true;
}

// Characters before byte `offset` of `line`: Python's column.
int char_column(const std::string& line, size_t offset) {
  int n = 0;
  for (size_t i = 0; i < offset && i < line.size(); ++i)
    n += !is_continuation(static_cast<unsigned char>(line[i]));
  return n;
}

// str(UnicodeDecodeError) for line.decode('utf-8'), CPython's strict rules.
std::optional<std::string> utf8_decode_error(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    const char* reason = need == 0 ? "invalid start byte" : nullptr;
    size_t end = i;  // last byte of the undecodable range
    for (int j = 1; j <= need && !reason; ++j) {
      if (i + j >= s.size()) {
        reason = "unexpected end of data";
        break;
      }
      const unsigned char b = static_cast<unsigned char>(s[i + j]);
      if (b < (j == 1 ? lo : 0x80) || b > (j == 1 ? hi : 0xBF)) {
        reason = "invalid continuation byte";
        break;
      }
      end = i + j;
    }
    if (!reason) {
      i += need + 1;
      continue;
    }
    char buffer[128];
    if (end == i)
      std::snprintf(buffer, sizeof(buffer),
                    "'utf-8' codec can't decode byte 0x%02x in position %zu: %s", c, i, reason);
    else
      std::snprintf(buffer, sizeof(buffer),
                    "'utf-8' codec can't decode bytes in position %zu-%zu: %s", i, end, reason);
    return std::string(buffer);
  }
  return std::nullopt;
}

// ---- Tokenizer --------------------------------------------------------------------

bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-';
}

// Tokenizer._TOKEN at byte `i` (identifier | number | quoted string), else
// the one character there.
std::string match_token(const std::string& line, size_t i) {
  const char c = line[i];
  size_t j = i + 1;
  const bool dot_digit = c == '.' && i + 1 < line.size() &&
                         std::isdigit(static_cast<unsigned char>(line[i + 1]));
  if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
    while (j < line.size() && is_ident_char(line[j])) ++j;
  } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '+' || c == '-' || dot_digit) {
    if (dot_digit) ++j;
    while (j < line.size() && (is_ident_char(line[j]) || line[j] == '.')) ++j;
  } else if (c == '"' || c == '\'') {
    while (j < line.size()) {
      if (line[j] == '\\') {
        j += j + 1 < line.size() ? 2 : 1;
      } else if (line[j++] == c) {
        break;
      }
    }
  } else {
    size_t length = 1;
    code_point_at(line, i, &length);
    j = i + length;
  }
  return line.substr(i, j - i);
}

class Tokenizer {
 public:
  explicit Tokenizer(const std::vector<std::string>& lines) : lines_(lines) {
    SkipWhitespace();
    NextToken();
  }

  const std::string& token() const { return token_; }
  bool AtEnd() const { return token_.empty(); }

  bool TryConsume(const std::string& t) {
    if (token_ != t) return false;
    NextToken();
    return true;
  }
  void Consume(const std::string& t) {
    if (!TryConsume(t)) throw ParseError("Expected \"" + t + "\".");
  }
  // `[^\d\W]\w*` must match at the start.
  std::string ConsumeIdentifier() {
    if (!starts_with_word(token_, /*allow_digit=*/false)) throw ParseError("Expected identifier.");
    return take();
  }
  // `\w+` must match at the start.
  std::string ConsumeIdentifierOrNumber() {
    if (!starts_with_word(token_, /*allow_digit=*/true))
      throw ParseError("Expected identifier or number, got " + token_ + ".");
    return take();
  }
  std::string take() {
    std::string t = token_;
    NextToken();
    return t;
  }

  // Tokenizer.ParseError: at the current token, the current line quoted.
  Failure ParseError(const std::string& message) const {
    // At the end of the text the current line is '' but the position is
    // still on the last line read.
    const std::string& text = line_ >= 0 ? lines_[line_] : current_line_;
    return Failure{{PythonTextFormatError::Kind::kParse,
                    position(line_, column_, text) + "'" + current_line_ + "': " + message}};
  }
  // Tokenizer.ParseErrorPreviousToken: at the previous token.
  Failure ParseErrorPreviousToken(const std::string& message) const {
    const std::string& text =
        previous_line_ >= 0 && static_cast<size_t>(previous_line_) < lines_.size()
            ? lines_[previous_line_]
            : current_line_;
    return Failure{{PythonTextFormatError::Kind::kParse,
                    position(previous_line_, previous_column_, text) + message}};
  }

  void NextToken() {
    previous_line_ = line_;
    previous_column_ = column_;
    column_ += token_.size();
    SkipWhitespace();
    if (!more_lines_) {
      token_.clear();
      return;
    }
    token_ = match_token(current_line_, column_);
  }

 private:
  static std::string position(int line, size_t column, const std::string& text) {
    return std::to_string(line + 1) + ":" + std::to_string(char_column(text, column) + 1) + " : ";
  }

  static bool starts_with_word(const std::string& t, bool allow_digit) {
    if (t.empty()) return false;
    size_t length = 1;
    const uint32_t cp = code_point_at(t, 0, &length);
    return is_word(cp) && (allow_digit || !is_ascii_digit(cp));
  }

  // Pulls lines (decoding each, as Python's line generator does) until the
  // current one has text at the column.
  void PopLine() {
    while (current_line_.size() <= column_) {
      if (next_line_ >= lines_.size()) {
        current_line_.clear();
        more_lines_ = false;
        return;
      }
      const std::string& line = lines_[next_line_++];
      if (auto error = utf8_decode_error(line))
        throw Failure{{PythonTextFormatError::Kind::kUnicodeDecode, *error}};
      current_line_ = line;
      ++line_;
      column_ = 0;
    }
  }

  // _WHITESPACE_OR_COMMENT = (\s|(#.*$))+
  void SkipWhitespace() {
    while (true) {
      PopLine();
      size_t i = column_;
      while (i < current_line_.size()) {
        if (current_line_[i] == '#') {
          i = current_line_.size();
          break;
        }
        size_t length = 1;
        if (!is_space(code_point_at(current_line_, i, &length))) break;
        i += length;
      }
      if (i == column_) break;
      column_ = i;
    }
  }

  const std::vector<std::string>& lines_;
  size_t next_line_ = 0;
  int line_ = -1;
  size_t column_ = 0;  // byte offset in current_line_
  std::string current_line_;
  bool more_lines_ = true;
  std::string token_;
  int previous_line_ = 0;
  size_t previous_column_ = 0;
};

// ---- values -----------------------------------------------------------------------------

// `(_?D)+` for digits accepted by `is_digit`, from i to the end.
template <typename IsDigit>
bool digit_run(const std::string& s, size_t i, IsDigit is_digit) {
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] == '_') ++i;
    if (i >= s.size() || !is_digit(s[i])) return false;
  }
  return true;
}

// int(text, 0): nullopt when Python raises ValueError; else the value, or
// nullopt in `*too_big` terms when it does not fit in 128 bits.
std::optional<__int128> python_int(const std::string& text, bool* too_big) {
  *too_big = false;
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  int base = 10;
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  auto oct = [](char c) { return c >= '0' && c <= '7'; };
  auto bin = [](char c) { return c == '0' || c == '1'; };
  auto dec = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  size_t digits_at = i;
  if (text.size() > i + 1 && text[i] == '0' && std::isalpha(static_cast<unsigned char>(text[i + 1]))) {
    const char p = static_cast<char>(std::tolower(text[i + 1]));
    base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (base == 0) return std::nullopt;
    digits_at = i + 2;
    const bool ok = base == 16 ? digit_run(text, digits_at, hex)
                    : base == 8 ? digit_run(text, digits_at, oct)
                                : digit_run(text, digits_at, bin);
    if (!ok) return std::nullopt;
  } else {
    // [1-9](_?\d)* or 0(_?0)*
    if (i >= text.size() || !dec(text[i])) return std::nullopt;
    for (size_t k = i; k < text.size(); ++k) {
      if (text[k] == '_') {
        if (k + 1 >= text.size() || !dec(text[k + 1])) return std::nullopt;
      } else if (!dec(text[k])) {
        return std::nullopt;
      }
    }
    if (text[i] == '0' && text.find_first_not_of("0_", i) != std::string::npos) return std::nullopt;
  }
  unsigned __int128 value = 0;
  for (size_t k = digits_at; k < text.size(); ++k) {
    if (text[k] == '_') continue;
    const int d = std::isdigit(static_cast<unsigned char>(text[k]))
                      ? text[k] - '0'
                      : std::tolower(text[k]) - 'a' + 10;
    if (value > (static_cast<unsigned __int128>(1) << 120)) *too_big = true;
    value = value * base + d;
  }
  if (*too_big) return __int128(0);
  return negative ? -static_cast<__int128>(value) : static_cast<__int128>(value);
}

std::string int_to_string(__int128 v) {
  if (v == 0) return "0";
  const bool negative = v < 0;
  unsigned __int128 u = negative ? -static_cast<unsigned __int128>(v) : v;
  std::string s;
  while (u) s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(u % 10))), u /= 10;
  return negative ? "-" + s : s;
}

// ParseInteger(text, is_signed, is_long) for the field's type.
void check_integer(Tokenizer& t, const pb::FieldDescriptor& field) {
  std::string text = t.token();
  const std::string original = text;
  // _ParseAbstractInteger: C-style octal "0755" -> "0o755".
  if (!text.empty()) {
    size_t k = text[0] == '-' ? 1 : 0;
    if (text.size() > k + 1 && text[k] == '0' &&
        text.find_first_not_of("0123456789", k) == std::string::npos)
      text = text.substr(0, k) + "0o" + text.substr(k + 1);
  }
  bool too_big = false;
  const std::optional<__int128> value = text.empty() ? std::nullopt : python_int(text, &too_big);
  if (!value) throw t.ParseError("Couldn't parse integer: " + original);
  __int128 lo = 0, hi = 0;
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
    case pb::FieldDescriptor::CPPTYPE_UINT32: lo = 0, hi = UINT32_MAX; break;
    case pb::FieldDescriptor::CPPTYPE_INT64: lo = INT64_MIN, hi = INT64_MAX; break;
    default: lo = 0, hi = static_cast<__int128>(UINT64_MAX); break;
  }
  if (too_big || *value < lo || *value > hi)
    throw t.ParseError("Value out of range: " + (too_big ? text : int_to_string(*value)));
  t.NextToken();
}

bool iequals(const std::string& a, const char* b) {
  size_t i = 0;
  for (; i < a.size() && b[i]; ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return i == a.size() && !b[i];
}

// float(text): [sign] (digits [. [digits]] | . digits) [e [sign] digits],
// or [sign] inf / infinity / nan; digits may hold single underscores.
bool python_float_literal(const std::string& text) {
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  const std::string rest = text.substr(i);
  if (iequals(rest, "inf") || iequals(rest, "infinity") || iequals(rest, "nan")) return true;
  auto digits = [&](size_t& k) {
    const size_t start = k;
    while (k < text.size()) {
      if (std::isdigit(static_cast<unsigned char>(text[k]))) {
        ++k;
      } else if (text[k] == '_' && k > start && k + 1 < text.size() &&
                 std::isdigit(static_cast<unsigned char>(text[k + 1]))) {
        ++k;
      } else {
        break;
      }
    }
    return k > start;
  };
  bool mantissa = digits(i);
  if (i < text.size() && text[i] == '.') {
    ++i;
    mantissa = digits(i) || mantissa;
  }
  if (!mantissa) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digits(i)) return false;
  }
  return i == text.size();
}

// ParseFloat: float(), then -?inf(inity)?f? / nanf? (any case), then the
// text without trailing 'f's.
void check_float(Tokenizer& t) {
  const std::string& text = t.token();
  std::string lower;
  for (char c : text) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  const std::string unsigned_lower = !lower.empty() && lower[0] == '-' ? lower.substr(1) : lower;
  const bool ok = python_float_literal(text) || unsigned_lower == "inf" ||
                  unsigned_lower == "inff" || unsigned_lower == "infinity" ||
                  unsigned_lower == "infinityf" || lower == "nan" || lower == "nanf" ||
                  python_float_literal(text.substr(0, text.find_last_not_of('f') + 1));
  if (!ok) throw t.ParseError("Couldn't parse float: " + text);
  t.NextToken();
}

void check_bool(Tokenizer& t) {
  const std::string& v = t.token();
  if (v != "true" && v != "t" && v != "1" && v != "True" && v != "false" && v != "f" &&
      v != "0" && v != "False")
    throw t.ParseError("Expected \"true\" or \"false\".");
  t.NextToken();
}

// ConsumeString: one or more adjacent quoted tokens. (Escapes are taken as
// valid; C++ judges them when it parses the same text.)
void check_string(Tokenizer& t) {
  do {
    const std::string& text = t.token();
    if (text.empty() || (text[0] != '"' && text[0] != '\''))
      throw t.ParseError("Expected string but found: " + python_str_repr(text));
    if (text.size() < 2 || text.back() != text.front())
      throw t.ParseError("String missing ending quote: " + python_str_repr(text));
    t.NextToken();
  } while (!t.token().empty() && (t.token()[0] == '"' || t.token()[0] == '\''));
}

// ParseEnum: int(value, 0) is a number, else a name.
void check_enum(Tokenizer& t, const pb::FieldDescriptor& field) {
  const pb::EnumDescriptor* type = field.enum_type();
  bool too_big = false;
  const std::optional<__int128> number = python_int(t.token(), &too_big);
  if (number) {
    const bool known = !too_big && *number >= INT32_MIN && *number <= INT32_MAX &&
                       type->FindValueByNumber(static_cast<int>(*number));
    if (!known)
      throw t.ParseError("Enum type \"" + type->full_name() + "\" has no value with number " +
                         (too_big ? t.token() : int_to_string(*number)) + ".");
  } else if (!type->FindValueByName(t.token())) {
    throw t.ParseError("Enum type \"" + type->full_name() + "\" has no value named " + t.token() +
                       ".");
  }
  t.NextToken();
}

// ---- _MergeField -------------------------------------------------------------------------------

void merge_field(Tokenizer& t, const pb::Descriptor& message);

void merge_scalar(Tokenizer& t, const pb::FieldDescriptor& field) {
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
    case pb::FieldDescriptor::CPPTYPE_INT64:
    case pb::FieldDescriptor::CPPTYPE_UINT32:
    case pb::FieldDescriptor::CPPTYPE_UINT64: check_integer(t, field); break;
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
    case pb::FieldDescriptor::CPPTYPE_DOUBLE: check_float(t); break;
    case pb::FieldDescriptor::CPPTYPE_BOOL: check_bool(t); break;
    case pb::FieldDescriptor::CPPTYPE_STRING: check_string(t); break;
    case pb::FieldDescriptor::CPPTYPE_ENUM: check_enum(t, field); break;
    default: break;
  }
}

void merge_message(Tokenizer& t, const pb::FieldDescriptor& field) {
  std::string end = ">";
  if (!t.TryConsume("<")) {
    t.Consume("{");
    end = "}";
  }
  while (!t.TryConsume(end)) {
    if (t.AtEnd()) throw t.ParseErrorPreviousToken("Expected \"" + end + "\".");
    merge_field(t, *field.message_type());
  }
}

void merge_field(Tokenizer& t, const pb::Descriptor& message) {
  const pb::FieldDescriptor* field = nullptr;
  if (t.TryConsume("[")) {
    t.ConsumeIdentifier();
    while (t.TryConsume(".")) t.ConsumeIdentifier();
    // None of the schema's messages has extension ranges.
    throw t.ParseErrorPreviousToken("Message type \"" + message.full_name() +
                                    "\" does not have extensions.");
  }
  const std::string name = t.ConsumeIdentifierOrNumber();
  field = message.FindFieldByName(name);
  if (!field)
    throw t.ParseErrorPreviousToken("Message type \"" + message.full_name() +
                                    "\" has no field named \"" + name + "\".");
  const bool is_message = field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE;
  if (is_message)
    t.TryConsume(":");
  else
    t.Consume(":");
  auto merge = [&] { is_message ? merge_message(t, *field) : merge_scalar(t, *field); };
  if (field->is_repeated() && t.TryConsume("[")) {
    if (!t.TryConsume("]")) {
      while (true) {
        merge();
        if (t.TryConsume("]")) break;
        t.Consume(",");
      }
    }
  } else {
    merge();
  }
  if (!t.TryConsume(",")) t.TryConsume(";");
}

}  // namespace

std::optional<PythonTextFormatError> python_text_format_error(const std::string& text,
                                                              const pb::Descriptor* root) {
  std::vector<std::string> lines;  // text.split(b'\n')
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(text.substr(start, nl - start));
  lines.push_back(text.substr(start));
  try {
    Tokenizer tokenizer(lines);
    while (!tokenizer.AtEnd()) merge_field(tokenizer, *root);
  } catch (const Failure& f) {
    return f.error;
  }
  return std::nullopt;
}

}  // namespace openamct
