// Writing a config without ever losing the old one: the text goes to a
// temporary file in the same directory, is flushed, chmod-ed and renamed over
// the target. A failure at any point removes the temporary file and leaves an
// existing target byte-identical.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string>

namespace openamct {

// write(2) as the atomic write calls it: the number of bytes written, or -1
// with errno set. The seam through which a test makes the disk fill up;
// an empty function is ::write.
using WriteCall = std::function<ssize_t(int fd, const char* data, std::size_t size)>;

// Creates missing parent directories (leaf mode 0750 before umask, like the
// reference's os.makedirs(dirname, 0o750)), then writes `content` atomically
// with file mode `mode`. Throws openamct::Error(kOS) naming the path and the
// system error on failure.
void write_file_atomically(const std::string& path, const std::string& content,
                           unsigned mode = 0640, const WriteCall& write_call = {});

// Passes `size` bytes on to the file; returns 0 or the errno of the failed write.
using EmitBytes = std::function<int(const char* data, std::size_t size)>;
// Produces the content piece by piece through `emit`; returns 0, an errno
// value emit returned, or EIO when the content itself could not be produced.
using ContentProducer = std::function<int(const EmitBytes& emit)>;

// The same, for content too large to hold as one string (a model's
// serialisation): `produce` streams it into the temporary file.
void write_stream_atomically(const std::string& path, const ContentProducer& produce,
                             unsigned mode = 0640, const WriteCall& write_call = {});

}  // namespace openamct
