// Serialises JSON exactly as Python's
//   json.dump(obj, f, indent=4, separators=(',', ':'))
// does (ensure_ascii, floats as Python repr, integers plain, "[]"/"{}" for
// empty containers, no trailing newline), so our files match the reference
// byte for byte.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace openamct {

std::string python_json_dumps(const nlohmann::ordered_json& value);

// Python's json string encoding with ensure_ascii=True, quotes included:
// "\"a\\u00e9\"" for "aé" (non-BMP characters as surrogate pairs).
std::string python_json_string(const std::string& utf8);

}  // namespace openamct
