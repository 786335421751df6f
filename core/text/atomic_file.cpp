// Atomic replacement of a file: mkstemp in the target's directory, write,
// fchmod, fsync, close, rename. Errors are reported like Python's OSError
// ("[Errno 13] Permission denied: '/x/y.json'") followed by a hint.
#include "text/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "openamct/errors.h"
#include "text/os_error.h"

namespace openamct {
namespace {

constexpr char kNotWrittenHint[] =
    "the file was not written; an existing file is left unchanged";

// Python's OSError text, "[Errno N] <strerror>: '<path>'", plus a hint.
[[noreturn]] void throw_os_error(int err, const std::string& path,
                                 const std::string& hint) {
  std::string message = python_os_error_text(err, path);
  if (!hint.empty()) message += " (" + hint + ")";
  throw Error(ErrorKind::kOS, message);
}

// os.path.split: the head keeps a leading "/" but loses trailing slashes.
std::pair<std::string, std::string> split_path(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  std::string head = path.substr(0, slash + 1);
  const std::string tail = path.substr(slash + 1);
  if (head.find_first_not_of('/') != std::string::npos) {
    head.erase(head.find_last_not_of('/') + 1);
  }
  return {head, tail};
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// os.makedirs(name, mode, exist_ok=True): missing ancestors are created with
// 0777, `name` itself with `mode`, both before the umask.
void make_dirs(const std::string& name, mode_t mode) {
  auto [head, tail] = split_path(name);
  if (tail.empty()) std::tie(head, tail) = split_path(head);
  if (!head.empty() && !tail.empty() && !path_exists(head)) {
    make_dirs(head, 0777);
    if (tail == ".") return;
  }
  if (::mkdir(name.c_str(), mode) != 0) {
    const int err = errno;
    if (!is_directory(name)) {
      throw_os_error(err, name,
                     "cannot create the directory of the config file; "
                     "check the path and its permissions");
    }
  }
}

// Removes the temporary file unless the rename went through.
class TempFile {
 public:
  explicit TempFile(std::string name_template)
      : name_(std::move(name_template)) {
    std::vector<char> buffer(name_.begin(), name_.end());
    buffer.push_back('\0');
    fd_ = ::mkostemp(buffer.data(), O_CLOEXEC);
    if (fd_ >= 0) {
      name_.assign(buffer.data());
      created_ = true;
    }
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (created_ && !committed_) ::unlink(name_.c_str());
  }

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

  // close(2) once; the descriptor is gone afterwards whatever it returns.
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }
  void commit() { committed_ = true; }

 private:
  std::string name_;
  int fd_ = -1;
  bool created_ = false;
  bool committed_ = false;
};

// write(2) (or the caller's seam) until every byte is out, retrying on EINTR
// and short writes. Returns 0 or an errno value.
int write_all(int fd, const char* data, std::size_t size, const WriteCall& write_call) {
  std::size_t done = 0;
  while (done < size) {
    const std::size_t chunk = size - done;
    const ssize_t n = write_call ? write_call(fd, data + done, chunk)
                                 : ::write(fd, data + done, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

int fsync_retrying(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& content,
                           unsigned mode, const WriteCall& write_call) {
  write_stream_atomically(
      path, [&content](const EmitBytes& emit) { return emit(content.data(), content.size()); },
      mode, write_call);
}

void write_stream_atomically(const std::string& path, const ContentProducer& produce,
                             unsigned mode, const WriteCall& write_call) {
  const auto [dir, base] = split_path(path);
  if (base.empty()) {
    // "" or "dir/": like open(path, 'w'), which cannot create such a file.
    throw_os_error(path.empty() ? ENOENT : EISDIR, path,
                   "config_file must name a file");
  }
  if (!dir.empty()) make_dirs(dir, 0750);
  if (is_directory(path)) {
    throw_os_error(EISDIR, path, "config_file must name a file");
  }

  // NAME_MAX is 255: keep the temporary name short enough for any target
  // name that is itself valid.
  constexpr std::size_t kMaxBaseInTempName = 200;
  const std::string temp_template =
      (dir.empty() ? std::string() : (dir == "/" ? dir : dir + "/")) + "." +
      base.substr(0, kMaxBaseInTempName) + ".tmpXXXXXX";
  TempFile temp(temp_template);
  if (temp.fd() < 0) {
    const int err = errno;
    throw_os_error(err, path,
                   "cannot create a file in its directory; check the "
                   "directory's permissions");
  }

  const int fd = temp.fd();
  int err = produce([fd, &write_call](const char* data, std::size_t size) {
    return write_all(fd, data, size, write_call);
  });
  // The mode before the fsync, so that the sync makes it durable too.
  if (err == 0 && ::fchmod(temp.fd(), static_cast<mode_t>(mode & 07777)) != 0) {
    err = errno;
  }
  if (err == 0) err = fsync_retrying(temp.fd());
  if (err == 0 && temp.close() != 0) err = errno;
  if (err != 0) throw_os_error(err, path, kNotWrittenHint);

  if (::rename(temp.name().c_str(), path.c_str()) != 0) {
    err = errno;
    throw_os_error(err, path, kNotWrittenHint);
  }
  // The folder is not fsync-ed: after a crash the rename may be undone, but
  // the file under the name is then the old one, complete, and never a
  // partial new one (its data was synced before the rename). That costs
  // nothing a user keeps, and saves a disk wait per call.
  temp.commit();
}

}  // namespace openamct
