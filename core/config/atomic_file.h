// Writing a config without ever losing the old one: the text goes to a
// temporary file in the same directory, is flushed, chmod-ed and renamed over
// the target. A failure at any point removes the temporary file and leaves an
// existing target byte-identical.
#pragma once

#include <string>

namespace openamct {

// Creates missing parent directories (leaf mode 0750 before umask, like the
// reference's os.makedirs(dirname, 0o750)), then writes `content` atomically
// with file mode `mode`. Throws openamct::Error(kOS) naming the path and the
// system error on failure.
void write_file_atomically(const std::string& path, const std::string& content,
                           unsigned mode = 0640);

// FOR TESTS ONLY. Makes the next write_file_atomically call behave as if the
// disk filled up (ENOSPC) after `fail_after_bytes` bytes of content were
// written to the temporary file; the fault is used up by that call. A
// negative value cancels a pending fault. Production code never calls this.
namespace testing_hooks {
void set_atomic_write_fault_for_testing(int fail_after_bytes);
}  // namespace testing_hooks

}  // namespace openamct
