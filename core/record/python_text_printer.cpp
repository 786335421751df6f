// Follows text_format.py's _Printer (protobuf 3.21 / 4.21): PrintMessage,
// PrintField, _PrintFieldName, PrintFieldValue and text_encoding.CEscape,
// with the defaults MessageToString uses besides as_utf8=True.
#include "record/python_text_printer.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "text/python_repr.h"
#include "text/float_repr.h"
#include "openamct/errors.h"

namespace openamct {
namespace {

namespace pb = google::protobuf;
using Cpp = pb::FieldDescriptor::CppType;

// CEscape(text, as_utf8=True) on a str: str.translate with the six-entry
// table, plus NUL (below). A byte that is not part of valid UTF-8 cannot be in a Python str;
// it is written as an octal escape, which every parser reads back as the
// same byte.
void append_escaped(std::string& out, const std::string& text) {
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    switch (c) {
      case '\t': out += "\\t"; ++i; continue;
      case '\n': out += "\\n"; ++i; continue;
      case '\r': out += "\\r"; ++i; continue;
      case '"': out += "\\\""; ++i; continue;
      case '\'': out += "\\'"; ++i; continue;
      case '\\': out += "\\\\"; ++i; continue;
      // Python writes a NUL as it is, but libprotobuf's tokenizer takes it
      // for the end of the text: written as an escape so that the record
      // reads back (a layer name holding NUL is the only case).
      case '\0': out += "\\000"; ++i; continue;
      default: break;
    }
    std::uint32_t cp = 0;
    const std::size_t length = decode_utf8_at(text, i, cp);
    if (length == 0) {
      char octal[8];
      std::snprintf(octal, sizeof(octal), "\\%03o", static_cast<unsigned char>(c));
      out += octal;
      ++i;
      continue;
    }
    out.append(text, i, length);
    i += length;
  }
}

class Printer {
 public:
  explicit Printer(std::string& out) : out_(out) {}

  void print_message(const pb::Message& message) {
    const pb::Reflection* reflection = message.GetReflection();
    std::vector<const pb::FieldDescriptor*> fields;
    reflection->ListFields(message, &fields);  // sorted by field number
    for (const pb::FieldDescriptor* field : fields) {
      if (field->is_repeated()) {
        const int n = reflection->FieldSize(message, field);
        for (int i = 0; i < n; ++i) print_field(message, field, i);
      } else {
        print_field(message, field, -1);
      }
    }
  }

 private:
  // `index` -1 for a singular field.
  void print_field(const pb::Message& message, const pb::FieldDescriptor* field, int index) {
    out_.append(static_cast<std::size_t>(indent_), ' ');
    out_ += field->is_extension() ? "[" + field->full_name() + "]" : field->name();
    if (field->cpp_type() != Cpp::CPPTYPE_MESSAGE) out_ += ':';
    out_ += ' ';
    print_value(message, field, index);
    out_ += '\n';
  }

  void print_value(const pb::Message& message, const pb::FieldDescriptor* field, int index) {
    const pb::Reflection* r = message.GetReflection();
    const bool rep = index >= 0;
    switch (field->cpp_type()) {
      case Cpp::CPPTYPE_MESSAGE: {
        out_ += "{\n";
        indent_ += 2;
        print_message(rep ? r->GetRepeatedMessage(message, field, index)
                          : r->GetMessage(message, field));
        indent_ -= 2;
        out_.append(static_cast<std::size_t>(indent_), ' ');
        out_ += '}';
        return;
      }
      case Cpp::CPPTYPE_STRING: {
        std::string scratch;
        const std::string& text =
            rep ? r->GetRepeatedStringReference(message, field, index, &scratch)
                : r->GetStringReference(message, field, &scratch);
        out_ += '"';
        if (field->type() == pb::FieldDescriptor::TYPE_BYTES) {
          // Python escapes bytes fields whatever as_utf8 says.
          for (unsigned char c : text) {
            if (c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == '\\') {
              append_escaped(out_, std::string(1, static_cast<char>(c)));
            } else if (c < 32 || c >= 127) {
              char octal[8];
              std::snprintf(octal, sizeof(octal), "\\%03o", c);
              out_ += octal;
            } else {
              out_ += static_cast<char>(c);
            }
          }
        } else {
          append_escaped(out_, text);
        }
        out_ += '"';
        return;
      }
      case Cpp::CPPTYPE_FLOAT:
        out_ += protobuf_float_repr(rep ? r->GetRepeatedFloat(message, field, index)
                                        : r->GetFloat(message, field));
        return;
      case Cpp::CPPTYPE_DOUBLE:
        out_ += python_float_repr(rep ? r->GetRepeatedDouble(message, field, index)
                                      : r->GetDouble(message, field));
        return;
      case Cpp::CPPTYPE_BOOL:
        out_ += (rep ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                    ? "true"
                    : "false";
        return;
      case Cpp::CPPTYPE_INT32:
        out_ += std::to_string(rep ? r->GetRepeatedInt32(message, field, index)
                                   : r->GetInt32(message, field));
        return;
      case Cpp::CPPTYPE_INT64:
        out_ += std::to_string(rep ? r->GetRepeatedInt64(message, field, index)
                                   : r->GetInt64(message, field));
        return;
      case Cpp::CPPTYPE_UINT32:
        out_ += std::to_string(rep ? r->GetRepeatedUInt32(message, field, index)
                                   : r->GetUInt32(message, field));
        return;
      case Cpp::CPPTYPE_UINT64:
        out_ += std::to_string(rep ? r->GetRepeatedUInt64(message, field, index)
                                   : r->GetUInt64(message, field));
        return;
      case Cpp::CPPTYPE_ENUM: {
        const pb::EnumValueDescriptor* v =
            rep ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field);
        out_ += v->name();
        return;
      }
    }
    OPENAMCT_INTERNAL_ASSERT(false, "unknown protobuf field type of " + field->full_name());
  }

  std::string& out_;
  int indent_ = 0;
};

}  // namespace

std::string python_text_format(const pb::Message& message) {
  std::string out;
  Printer(out).print_message(message);
  return out;
}

}  // namespace openamct
