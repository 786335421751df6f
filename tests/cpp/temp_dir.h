// Files for the C++ tests: one temporary folder type and one reader, instead
// of a copy in each test file.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "text/atomic_file.h"

namespace openamct {

// A fresh folder from mkdtemp under $TMPDIR (or /tmp), named
// openamct_<tag>_XXXXXX, removed with everything in it afterwards; any
// permission a test took away inside it is given back first.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test") {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base && *base ? base : "/tmp") + "/openamct_" + tag + "_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << pattern;
    path_ = pattern;
  }
  ~TempDir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec)) ::chmod(it->path().c_str(), 0700);
    }
    ::chmod(path_.c_str(), 0700);
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The whole file as bytes ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A write(2) on a disk that fills up (ENOSPC) after `budget` bytes: the
// seam of write_file_atomically and of the writers built on it.
inline WriteCall disk_full_after(std::size_t budget) {
  auto left = std::make_shared<std::size_t>(budget);
  return [left](int fd, const char* data, std::size_t size) -> ssize_t {
    if (*left == 0) {
      errno = ENOSPC;
      return -1;
    }
    const ssize_t n = ::write(fd, data, std::min(size, *left));
    if (n > 0) *left -= static_cast<std::size_t>(n);
    return n;
  };
}

}  // namespace openamct
