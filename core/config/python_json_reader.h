// Reading JSON as the reference does: Python's json.load with an
// object_pairs_hook that rejects repeated keys. Hand-edited configs go
// through here, so what Python accepts (NaN, Infinity, big integers) is
// accepted, what it rejects is rejected with its JSONDecodeError text
// ("Expecting value: line 1 column 5 (char 4)"), and a repeated key at any
// level is the reference's ValueError, reported for the first object to close.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace openamct {

struct JsonValue {
  enum class Kind { kNull, kBool, kInt, kFloat, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;  // kBool
  int64_t integer = 0;   // kInt, saturated to the int64 range (Python's int is unbounded)
  double number = 0.0;   // kFloat; kInt: the value as a double
  std::string text;      // kString (UTF-8); kInt: the digits as written
  std::vector<JsonValue> items;                              // kArray
  std::vector<std::pair<std::string, JsonValue>> members;    // kObject, file order, unique keys

  // The member named `key`, or nullptr (also when this is not an object).
  const JsonValue* find(const std::string& key) const;
  // Python's type of the value as repr(type(v)) prints it: "<class 'int'>".
  const char* python_type() const;
  // isinstance(v, int) (a bool is an int in Python) / a real number.
  bool is_python_int() const { return kind == Kind::kInt || kind == Kind::kBool; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  // str(v) in Python for scalars ("True", "1.5", "abc", "None"); containers
  // as "[...]" / "{...}".
  std::string python_str() const;
};

// Parses `text` (the file's bytes). Throws ValueError with Python's messages:
// invalid UTF-8 (UnicodeDecodeError), a UTF-8 BOM, JSONDecodeError texts, and
// "Please delete repeated items in <path>, repeated items are [...] " for
// repeated keys; RuntimeError for nesting deeper than Python's recursion
// limit allows. `path` is only used in messages.
JsonValue parse_python_json(const std::string& text, const std::string& path);

}  // namespace openamct
