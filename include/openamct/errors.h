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
