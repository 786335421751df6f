// write_file_atomically: directory creation modes, file mode, and that a
// failure never damages an existing file or leaves a temporary file behind.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "openamct/errors.h"
#include "text/atomic_file.h"
#include "temp_dir.h"

namespace openamct {
namespace {

namespace fs = std::filesystem;

// Sets the process umask for one test and restores it.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : saved_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(saved_); }

 private:
  mode_t saved_;
};

void write_plain_file(const std::string& path, const std::string& content,
                      mode_t mode) {
  std::ofstream(path, std::ios::binary) << content;
  ::chmod(path.c_str(), mode);
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    names.insert(e.path().filename().string());
  }
  return names;
}

// Runs `write` and returns the OSError text it throws ("" if none).
template <typename Fn>
std::string os_error_of(Fn write) {
  try {
    write();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOS) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error was thrown";
  return "";
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// ---- success paths ------------------------------------------------------------

TEST(WriteFileAtomically, WritesExactBytesWithoutExtraFiles) {
  TempDir dir;
  const std::string content = "{\n    \"version\":1\n}";
  write_file_atomically(dir / "quant.json", content);
  EXPECT_EQ(read_file(dir / "quant.json"), content);
  EXPECT_EQ(entries(dir.path()), std::set<std::string>{"quant.json"});
}

TEST(WriteFileAtomically, WritesEmptyContent) {
  TempDir dir;
  write_file_atomically(dir / "empty.json", "");
  EXPECT_TRUE(fs::is_regular_file(dir / "empty.json"));
  EXPECT_EQ(fs::file_size(dir / "empty.json"), 0u);
}

TEST(WriteFileAtomically, FileModeIs0640UnderUmask077) {
  ScopedUmask mask(077);
  TempDir dir;
  write_file_atomically(dir / "a.json", "x");
  EXPECT_EQ(mode_of(dir / "a.json"), 0640u);
}

TEST(WriteFileAtomically, FileModeIs0640UnderUmask0) {
  ScopedUmask mask(0);
  TempDir dir;
  write_file_atomically(dir / "a.json", "x");
  EXPECT_EQ(mode_of(dir / "a.json"), 0640u);
}

TEST(WriteFileAtomically, ExplicitModeIsAppliedExactly) {
  ScopedUmask mask(077);
  TempDir dir;
  write_file_atomically(dir / "a.json", "x", 0604);
  EXPECT_EQ(mode_of(dir / "a.json"), 0604u);
}

TEST(WriteFileAtomically, OverwritesExistingFileAndResetsItsMode) {
  TempDir dir;
  write_plain_file(dir / "a.json", "old, longer content", 0644);
  write_file_atomically(dir / "a.json", "new");
  EXPECT_EQ(read_file(dir / "a.json"), "new");
  EXPECT_EQ(mode_of(dir / "a.json"), 0640u);
  EXPECT_EQ(entries(dir.path()), std::set<std::string>{"a.json"});
}

TEST(WriteFileAtomically, LargeContentIsWrittenCompletely) {
  TempDir dir;
  std::string content;
  for (int i = 0; content.size() < (3u << 20); ++i) {
    content += "\"layer" + std::to_string(i) + "\":0.999999,\n";
  }
  write_file_atomically(dir / "big.json", content);
  EXPECT_EQ(read_file(dir / "big.json"), content);
}

// ---- missing directories, as os.makedirs(dirname, 0o750, exist_ok=True) ------

void expect_created_dirs_modes(mode_t mask) {
  ScopedUmask scoped(mask);
  TempDir dir;
  write_file_atomically(dir / "a/b/leaf/quant.json", "{}");
  EXPECT_EQ(read_file(dir / "a/b/leaf/quant.json"), "{}");
  EXPECT_EQ(mode_of(dir / "a"), 0777u & ~mask);
  EXPECT_EQ(mode_of(dir / "a/b"), 0777u & ~mask);
  EXPECT_EQ(mode_of(dir / "a/b/leaf"), 0750u & ~mask);
  EXPECT_EQ(mode_of(dir / "a/b/leaf/quant.json"), 0640u);
}

TEST(WriteFileAtomically, CreatesMissingDirsUnderUmask022) {
  expect_created_dirs_modes(022);
}

TEST(WriteFileAtomically, CreatesMissingDirsUnderUmask077) {
  expect_created_dirs_modes(077);
}

TEST(WriteFileAtomically, CreatesMissingDirsUnderUmask0) {
  expect_created_dirs_modes(0);
}

TEST(WriteFileAtomically, ExistingDirectoryKeepsItsMode) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "out").c_str(), 0755), 0);
  ::chmod((dir / "out").c_str(), 0755);
  write_file_atomically(dir / "out/quant.json", "{}");
  EXPECT_EQ(mode_of(dir / "out"), 0755u);
}

TEST(WriteFileAtomically, RedundantSlashesAndDotsInPathAreAccepted) {
  TempDir dir;
  write_file_atomically(dir.path() + "//new//./sub/quant.json", "{}");
  EXPECT_EQ(read_file(dir / "new/sub/quant.json"), "{}");
}

// ---- failures -------------------------------------------------------------------

TEST(WriteFileAtomically, FullDiskKeepsExistingFileByteIdentical) {
  for (std::size_t after : {0, 1, 5, 100}) {
    TempDir dir;
    const std::string old_content = "{\n    \"version\":1\n}";
    write_plain_file(dir / "quant.json", old_content, 0644);
    const std::string message = os_error_of([&] {
      write_file_atomically(dir / "quant.json", std::string(4096, 'x'), 0640,
                            disk_full_after(after));
    });
    EXPECT_EQ(message, "[Errno 28] No space left on device: '" + (dir / "quant.json") +
                           "' (the file was not written; an existing file is left "
                           "unchanged)")
        << "after " << after << " bytes";
    EXPECT_EQ(read_file(dir / "quant.json"), old_content);
    EXPECT_EQ(mode_of(dir / "quant.json"), 0644u);
    EXPECT_EQ(entries(dir.path()), std::set<std::string>{"quant.json"});
  }
}

TEST(WriteFileAtomically, FailureBeforeFirstByteCreatesNoFile) {
  TempDir dir;
  os_error_of([&] {
    write_file_atomically(dir / "quant.json", "{}", 0640, disk_full_after(0));
  });
  EXPECT_TRUE(entries(dir.path()).empty());
}

TEST(WriteFileAtomically, InterruptedAndShortWritesAreResumed) {
  TempDir dir;
  int calls = 0;
  // EINTR on every other call, and never more than 3 bytes at a time.
  WriteCall flaky = [&calls](int fd, const char* data, std::size_t size) -> ssize_t {
    if (calls++ % 2 == 0) {
      errno = EINTR;
      return -1;
    }
    return ::write(fd, data, std::min<std::size_t>(size, 3));
  };
  const std::string content = "{\n    \"version\":1\n}";
  write_file_atomically(dir / "quant.json", content, 0640, flaky);
  EXPECT_EQ(read_file(dir / "quant.json"), content);
  EXPECT_GT(calls, 10);
}

TEST(WriteFileAtomically, TargetThatIsADirectoryRaisesAndIsUntouched) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "quant.json").c_str(), 0755), 0);
  ::chmod((dir / "quant.json").c_str(), 0755);
  write_plain_file(dir / "quant.json/inner.txt", "keep", 0600);
  const std::string message = os_error_of(
      [&] { write_file_atomically(dir / "quant.json", "{}"); });
  EXPECT_TRUE(starts_with(message, "[Errno 21] Is a directory: '" +
                                       (dir / "quant.json") + "'"))
      << message;
  EXPECT_TRUE(fs::is_directory(dir / "quant.json"));
  EXPECT_EQ(mode_of(dir / "quant.json"), 0755u);
  EXPECT_EQ(entries(dir / "quant.json"), std::set<std::string>{"inner.txt"});
  EXPECT_EQ(read_file(dir / "quant.json/inner.txt"), "keep");
  EXPECT_EQ(entries(dir.path()), std::set<std::string>{"quant.json"});
}

TEST(WriteFileAtomically, PathWithTrailingSlashIsADirectoryError) {
  TempDir dir;
  const std::string message =
      os_error_of([&] { write_file_atomically(dir / "out/", "{}"); });
  EXPECT_TRUE(starts_with(message, "[Errno 21] Is a directory: '" +
                                       (dir / "out/") + "'"))
      << message;
  EXPECT_TRUE(entries(dir.path()).empty());
}

TEST(WriteFileAtomically, EmptyPathIsNoSuchFile) {
  const std::string message =
      os_error_of([&] { write_file_atomically("", "{}"); });
  EXPECT_TRUE(starts_with(message, "[Errno 2] No such file or directory: ''"))
      << message;
}

TEST(WriteFileAtomically, ParentThatIsAFileIsNotADirectoryError) {
  TempDir dir;
  write_plain_file(dir / "plain", "data", 0644);
  const std::string message = os_error_of(
      [&] { write_file_atomically(dir / "plain/sub/quant.json", "{}"); });
  EXPECT_TRUE(starts_with(message, "[Errno 20] Not a directory: '" +
                                       (dir / "plain/sub") + "'"))
      << message;
  EXPECT_EQ(read_file(dir / "plain"), "data");
}

TEST(WriteFileAtomically, UnwritableDirectoryIsPermissionDenied) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root ignores directory permissions";
  }
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "ro").c_str(), 0700), 0);
  write_plain_file(dir / "ro/quant.json", "old", 0644);
  ASSERT_EQ(::chmod((dir / "ro").c_str(), 0500), 0);
  const std::string message = os_error_of(
      [&] { write_file_atomically(dir / "ro/quant.json", "new"); });
  EXPECT_TRUE(starts_with(message, "[Errno 13] Permission denied: '" +
                                       (dir / "ro/quant.json") + "'"))
      << message;
  ::chmod((dir / "ro").c_str(), 0700);
  EXPECT_EQ(read_file(dir / "ro/quant.json"), "old");
  EXPECT_EQ(entries(dir / "ro"), std::set<std::string>{"quant.json"});
}

TEST(WriteFileAtomically, UncreatableDirectoryIsPermissionDeniedOnIt) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root ignores directory permissions";
  }
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "ro").c_str(), 0500), 0);
  ::chmod((dir / "ro").c_str(), 0500);
  const std::string message = os_error_of(
      [&] { write_file_atomically(dir / "ro/new/quant.json", "{}"); });
  EXPECT_TRUE(starts_with(message, "[Errno 13] Permission denied: '" +
                                       (dir / "ro/new") + "'"))
      << message;
}

}  // namespace
}  // namespace openamct
