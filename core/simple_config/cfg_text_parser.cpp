// quant.cfg text -> AMCTConfig. The C++ TextFormat parser reads the text;
// the error a user sees is the one Python's text_format raises on the same
// text (python_text_format.h), so that it names the reference's line:column.
#include "simple_config/cfg_text_parser.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <optional>
#include <string>
#include <vector>

#include "openamct/errors.h"
#include "simple_config/python_text_format.h"

namespace openamct {
namespace {

namespace pb = google::protobuf;

struct CppError {
  int line = 0;
  int column = 0;  // bytes, a tab advancing to the next multiple of 8
  std::string message;
};

class FirstErrorCollector : public pb::io::ErrorCollector {
 public:
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (!first) first = CppError{line, column, message};
  }
  void AddWarning(int, pb::io::ColumnNumber, const std::string&) override {}
  std::optional<CppError> first;
};

// For a text Python accepts but C++ does not (rare: e.g. "1_0" as an
// integer): C++'s problem, at its position counted the way Python counts.
Error cpp_parse_error(const std::string& text, const CppError& e) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(text.substr(start, nl - start));
  lines.push_back(text.substr(start));
  const std::string line =
      e.line >= 0 && static_cast<size_t>(e.line) < lines.size() ? lines[e.line] : "";
  int cpp_column = 0, column = 0;
  for (size_t i = 0; i < line.size() && cpp_column < e.column; ++i) {
    cpp_column += line[i] == '\t' ? 8 - cpp_column % 8 : 1;
    column += (static_cast<unsigned char>(line[i]) & 0xC0) != 0x80;
  }
  return Error(ErrorKind::kConfigParse, std::to_string(e.line + 1) + ":" +
                                            std::to_string(column + 1) + " : '" + line + "': " +
                                            e.message);
}

}  // namespace

AMCTPytorchProto::AMCTConfig parse_cfg_text(const std::string& text) {
  if (auto error = python_text_format_error(text, AMCTPytorchProto::AMCTConfig::descriptor())) {
    throw Error(error->kind == PythonTextFormatError::Kind::kParse ? ErrorKind::kConfigParse
                                                                   : ErrorKind::kValue,
                error->message);
  }
  AMCTPytorchProto::AMCTConfig config;
  pb::TextFormat::Parser parser;
  FirstErrorCollector collector;  // also keeps libprotobuf from logging to stderr
  parser.RecordErrorsTo(&collector);
  parser.AllowPartialMessage(true);
  if (!parser.MergeFromString(text, &config)) {
    OPENAMCT_INTERNAL_ASSERT(collector.first.has_value(),
                             "the cfg parser failed without reporting an error");
    throw cpp_parse_error(text, *collector.first);
  }
  return config;
}

}  // namespace openamct
