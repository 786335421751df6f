// Helpers shared by the C++ tests.
#pragma once

#include <functional>
#include <string>

#include "openamct/errors.h"

namespace openamct {

// The message of the openamct::Error that `f` throws (its kind in `*kind`),
// or "<no error>".
inline std::string error_of(const std::function<void()>& f, ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "<no error>";
}

}  // namespace openamct
