// User errors. A bad argument or a bad config throws openamct::Error with the
// kind of Python exception the reference raises; the bindings map each kind to
// that Python type. An internal invariant that fails is a bug in OpenAMCT and
// throws std::logic_error via OPENAMCT_INTERNAL_ASSERT instead.
#pragma once

#include <stdexcept>
#include <string>

namespace openamct {

enum class ErrorKind {
  kType,          // TypeError
  kValue,         // ValueError
  kRuntime,       // RuntimeError
  kFileNotFound,  // FileNotFoundError
  kOS,            // OSError
  kConfigParse,   // openamct.ConfigParseError (a ValueError)
};

// The Python exception each kind is raised as, by the bindings and in the
// CLI's "error: <type>: <message>" line. The one table of that mapping.
struct ErrorKindName {
  ErrorKind kind;
  const char* python_name;  // a builtin exception, or openamct's own
};
inline constexpr ErrorKindName kErrorKindNames[] = {
    {ErrorKind::kType, "TypeError"},
    {ErrorKind::kValue, "ValueError"},
    {ErrorKind::kRuntime, "RuntimeError"},
    {ErrorKind::kFileNotFound, "FileNotFoundError"},
    {ErrorKind::kOS, "OSError"},
    {ErrorKind::kConfigParse, "openamct.ConfigParseError"},
};

inline const char* python_exception_name(ErrorKind kind) {
  for (const auto& row : kErrorKindNames)
    if (row.kind == kind) return row.python_name;
  return "RuntimeError";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void throw_type_error(const std::string& m) {
  throw Error(ErrorKind::kType, m);
}
[[noreturn]] inline void throw_value_error(const std::string& m) {
  throw Error(ErrorKind::kValue, m);
}
[[noreturn]] inline void throw_runtime_error(const std::string& m) {
  throw Error(ErrorKind::kRuntime, m);
}

}  // namespace openamct

#define OPENAMCT_INTERNAL_ASSERT(cond, msg)                                   \
  do {                                                                        \
    if (!(cond))                                                              \
      throw std::logic_error(std::string("internal error, this is a bug in "  \
                                         "OpenAMCT: ") +                      \
                             (msg));                                          \
  } while (0)
