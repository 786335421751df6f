// One spelling of Python's OSError text for every file error of the core.
#include "text/os_error.h"

#include <cstring>

#include "text/python_repr.h"

namespace openamct {

std::string python_os_error_text(int err, const std::string& path) {
  return "[Errno " + std::to_string(err) + "] " + std::strerror(err) + ": " +
         python_str_repr(path);
}

}  // namespace openamct
