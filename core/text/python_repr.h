// Python's repr() of strings and lists of strings, for messages that must
// match the reference's text (e.g. "repeated items are ['fc'] ").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace openamct {

std::string python_str_repr(const std::string& s);
std::string python_list_repr(const std::vector<std::string>& items);

// Decodes the UTF-8 sequence that starts at s[i] (shared by the repr above and
// the JSON string writer). Returns its length (1-4) and sets `cp`, or returns 0
// when the bytes there are not valid UTF-8: a stray continuation byte, a
// truncated or overlong sequence, a surrogate, or a value above U+10FFFF.
std::size_t decode_utf8_at(const std::string& s, std::size_t i,
                           std::uint32_t& cp);

}  // namespace openamct
