// Protobuf text as Python protobuf prints it: the reference writes the record
// file with text_format.MessageToString(record, as_utf8=True), and the record
// must come out byte for byte the same. libprotobuf's own TextFormat printer
// differs (float digits, string escapes), so the text is printed here from
// the message's reflection; reading goes through libprotobuf's TextFormat.
#pragma once

#include <string>

#include <google/protobuf/message.h>

namespace openamct {

// text_format.MessageToString(message, as_utf8=True): set fields in
// field-number order, each element of a repeated field on its own
// "name: value" line, nested messages as "name {" ... "}" indented by two
// spaces per level, every line ending in '\n'; an empty message is "".
// Floats: protobuf_float_repr; strings: '"', '\'', '\\', '\n', '\r', '\t'
// escaped, everything else (non-ASCII included) kept as it is, except bytes
// that are not UTF-8 and NUL (which libprotobuf could not read back; Python
// writes it raw), written as octal escapes.
std::string python_text_format(const google::protobuf::Message& message);

}  // namespace openamct
