// The text of Python's OSError, so that every file error the core raises
// reads as the reference's open() or os.makedirs() would ("[Errno 13]
// Permission denied: '/x/y.json'"), and the bindings can raise it as the
// right OSError subclass with `errno` set.
#pragma once

#include <string>

namespace openamct {

// str(OSError(err, os.strerror(err), path)): "[Errno N] <strerror>: '<path>'".
std::string python_os_error_text(int err, const std::string& path);

}  // namespace openamct
