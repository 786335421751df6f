// Where Python's protobuf text_format (the reference reads quant.cfg with
// `text_format.Merge`) rejects a text, and with which message.
//
// The C++ TextFormat parser reads the cfg; this module only decides the
// error a user sees, because the two implementations place and word errors
// differently (C++ counts a tab as 8 columns and blames the token after an
// unknown field name; Python counts characters, blames the name itself and
// quotes the current line). It follows Python's tokenizer and its
// _MergeField / _MergeMessageField / _MergeScalarField step by step over the
// schema's descriptors, building nothing.
#pragma once

#include <optional>
#include <string>

#include <google/protobuf/descriptor.h>

namespace openamct {

struct PythonTextFormatError {
  enum class Kind {
    kParse,         // google.protobuf.text_format.ParseError
    kUnicodeDecode  // UnicodeDecodeError (a ValueError): a line is not UTF-8
  };
  Kind kind = Kind::kParse;
  // ParseError: "<line>:<column> : <problem>", exactly as str(ParseError);
  // UnicodeDecodeError: its str().
  std::string message;
};

// The error Python's text_format.Merge raises on `text` (the file's bytes)
// for messages of type `root`, or nullopt where it accepts the text.
std::optional<PythonTextFormatError> python_text_format_error(
    const std::string& text, const google::protobuf::Descriptor* root);

}  // namespace openamct
