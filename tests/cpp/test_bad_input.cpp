// Bad input through the public C++ API (create_quant_config with a
// ModelSource, and the CLI): each failure throws openamct::Error of the exact
// kind with a message that names the culprit, nothing aborts, and an existing
// config file is byte-identical afterwards with no temporary file left.
//
// Failures that need the operating system's help run in a forked child: one
// that drops to 'nobody' (an unwritable directory, since root writes
// anywhere), one that mounts a tmpfs in its own mount namespace (a read-only
// or a full file system). They skip, saying why, where that is not allowed.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "openamct/errors.h"
#include "openamct/log.h"
#include "openamct/openamct.h"
#include "temp_dir.h"

namespace openamct {
namespace {

namespace fs = std::filesystem;

const char kOldConfig[] = "{\"previous\":\"config, kept byte for byte\"}";
constexpr uid_t kNobody = 65534;

// ---- a model given as its layer table --------------------------------------------

ModuleRecord layer(const std::string& name, const std::string& type, int64_t rank,
                   int64_t weight_id) {
  ModuleRecord r;
  r.name = name;
  r.type_name = type;
  r.call_count = 1;
  r.input_rank = rank;
  r.weight_id = weight_id;
  r.weight_shape = {4, 4, 3, 3};
  if (type == "Conv2d") {
    r.padding_mode = "zeros";
    r.dilation = {1, 1};
  }
  return r;
}

LayerTable small_net() {
  LayerTable t;
  t.modules.push_back({"", "Net"});
  t.modules.push_back(layer("conv", "Conv2d", 4, 0));
  t.modules.push_back(layer("fc", "Linear", 2, 1));
  return t;
}

// A ModelSource over a fixed table; capture() can fail like a forward pass.
class TableSource : public ModelSource {
 public:
  explicit TableSource(LayerTable table, std::string capture_error = "")
      : table_(std::move(table)), capture_error_(std::move(capture_error)) {}
  std::vector<ModuleEntry> modules() override { return table_.entries(); }
  LayerTable capture() override {
    ++captures;
    if (!capture_error_.empty()) throw_runtime_error(capture_error_);
    return table_;
  }
  int captures = 0;

 private:
  LayerTable table_;
  std::string capture_error_;
};

// ---- files ----------------------------------------------------------------------------

// A fresh folder (0755, so that 'nobody' can enter it) holding q.json from an
// earlier call; removed with everything in it afterwards.
class Sandbox {
 public:
  Sandbox() : dir_("bad") {
    ::chmod(dir_.path().c_str(), 0755);
    write("q.json", kOldConfig);
  }
  std::string operator/(const std::string& name) const { return dir_ / name; }
  void write(const std::string& name, const std::string& content) const {
    std::ofstream(*this / name, std::ios::binary) << content;
  }

 private:
  TempDir dir_;
};

std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename());
  return names;
}

// The existing config is intact and the folder holds nothing new.
void expect_untouched(const std::string& dir, std::set<std::string> others = {}) {
  others.insert("q.json");
  EXPECT_EQ(read_file(dir + "/q.json"), kOldConfig);
  EXPECT_EQ(names_in(dir), others);
}

// ---- outcomes ---------------------------------------------------------------------------

struct Outcome {
  bool threw = false;
  ErrorKind kind = ErrorKind::kValue;
  std::string message;
  std::string skipped;  // a child could not set itself up: why
};

Outcome outcome_of(const std::function<void()>& call) {
  Outcome o;
  try {
    call();
  } catch (const Error& e) {
    o.threw = true;
    o.kind = e.kind();
    o.message = e.what();
  }
  return o;
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

void write_all(int fd, const std::string& s) {
  for (size_t done = 0; done < s.size();) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Runs `prepare` then `call` in a forked child and brings its Outcome back
// through a pipe. `prepare` returns "" or why the child cannot go on (the
// test then skips). `check` runs in the child after the call (for state only
// the child can see, such as its private mounts) and returns "" or a failure.
Outcome in_child(const std::function<std::string()>& prepare, const std::function<void()>& call,
                 const std::function<std::string()>& check = [] { return std::string(); }) {
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return {};
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string report;
    const std::string why = prepare();
    if (!why.empty()) {
      report = "S" + why;
    } else {
      const Outcome o = outcome_of(call);
      const std::string failed = check();
      report = (failed.empty() ? "R" : "F" + failed + "\n") + std::to_string(o.threw) + " " +
               std::to_string(static_cast<int>(o.kind)) + "\n" + o.message;
    }
    write_all(fds[1], report);
    ::_exit(0);  // no atexit handlers, no leak check of the forked copy
  }
  ::close(fds[1]);
  std::string report;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) report.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Outcome o;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || report.empty()) {
    ADD_FAILURE() << "the child died (status " << status << ")";
    return o;
  }
  if (report[0] == 'S') {
    o.skipped = report.substr(1);
    return o;
  }
  if (report[0] == 'F') {
    const size_t end = report.find('\n');
    ADD_FAILURE() << report.substr(1, end - 1);
    report = "R" + report.substr(end + 1);
  }
  std::istringstream in(report.substr(1));
  int threw = 0, kind = 0;
  in >> threw >> kind;
  in.ignore(1);
  o.threw = threw != 0;
  o.kind = static_cast<ErrorKind>(kind);
  o.message.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return o;
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string drop_to_nobody() {
  if (::geteuid() != 0) return "";  // already unprivileged
  if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)
    return errno_text("cannot become 'nobody'");
  return "";
}

// A tmpfs of `size` at `dir`, in a mount namespace of the child's own, so
// that nothing outside the child ever sees it.
std::string private_tmpfs(const std::string& dir, const std::string& size) {
  if (::unshare(CLONE_NEWNS) != 0) return errno_text("unshare(CLONE_NEWNS)");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return errno_text("making / private");
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size + ",mode=0755").c_str()) != 0)
    return errno_text("mount -t tmpfs");
  std::ofstream(dir + "/q.json", std::ios::binary) << kOldConfig;
  return "";
}

std::string untouched_in_child(const std::string& dir, std::set<std::string> others = {}) {
  others.insert("q.json");
  if (read_file(dir + "/q.json") != kOldConfig) return "q.json changed";
  if (names_in(dir) != others) return "the folder holds other files than before";
  return "";
}

void create(const std::string& path, QuantConfigOptions options = {}) {
  TableSource source(small_net());
  create_quant_config(path, source, options);
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    set_log_sink([](LogLevel, const std::string&) {});
  }
  void TearDown() override { set_log_sink(nullptr); }
  Sandbox box;
};

// ---- file system ----------------------------------------------------------------------------

TEST_F(BadInput, UnwritableDirectoryIsPermissionDenied) {
  ASSERT_EQ(::mkdir((box / "ro").c_str(), 0755), 0);
  std::ofstream(box / "ro/q.json") << kOldConfig;
  ASSERT_EQ(::chmod((box / "ro").c_str(), 0555), 0);
  const Outcome o = in_child(drop_to_nobody, [&] { create(box / "ro/q.json"); });
  if (!o.skipped.empty()) GTEST_SKIP() << o.skipped;
  EXPECT_TRUE(o.threw);
  EXPECT_EQ(o.kind, ErrorKind::kOS);
  EXPECT_TRUE(starts_with(o.message, "[Errno 13] Permission denied: '" + (box / "ro/q.json") + "'"))
      << o.message;
  expect_untouched(box / "ro");
}

TEST_F(BadInput, ReadOnlyFileSystemIsAnOSError) {
  const std::string mnt = box / "mnt";
  ASSERT_EQ(::mkdir(mnt.c_str(), 0755), 0);
  const Outcome o = in_child(
      [&] {
        std::string why = private_tmpfs(mnt, "64k");
        if (why.empty() && ::mount(nullptr, mnt.c_str(), nullptr, MS_REMOUNT | MS_RDONLY,
                                   nullptr) != 0)
          why = errno_text("remount read-only");
        return why;
      },
      [&] { create(mnt + "/q.json"); }, [&] { return untouched_in_child(mnt); });
  if (!o.skipped.empty()) GTEST_SKIP() << o.skipped;
  EXPECT_TRUE(o.threw);
  EXPECT_EQ(o.kind, ErrorKind::kOS);
  EXPECT_TRUE(starts_with(o.message, "[Errno 30] Read-only file system: '" + mnt + "/q.json'"))
      << o.message;
}

TEST_F(BadInput, FullFileSystemKeepsTheExistingConfig) {
  const std::string mnt = box / "mnt";
  ASSERT_EQ(::mkdir(mnt.c_str(), 0755), 0);
  const Outcome o = in_child(
      [&] {
        const std::string why = private_tmpfs(mnt, "64k");
        if (!why.empty()) return why;
        const int fd = ::open((mnt + "/filler").c_str(), O_WRONLY | O_CREAT, 0644);
        const std::string block(4096, 'x');
        while (::write(fd, block.data(), block.size()) > 0) {
        }
        ::close(fd);
        return std::string();
      },
      [&] { create(mnt + "/q.json"); }, [&] { return untouched_in_child(mnt, {"filler"}); });
  if (!o.skipped.empty()) GTEST_SKIP() << o.skipped;
  EXPECT_TRUE(o.threw);
  EXPECT_EQ(o.kind, ErrorKind::kOS);
  EXPECT_TRUE(starts_with(o.message, "[Errno 28] No space left on device: '" + mnt + "/q.json'"))
      << o.message;
}

// (A disk that fills up part way through the write: test_atomic_file.cpp.)

TEST_F(BadInput, ConfigFileThatIsASymlinkToADirectoryIsAValueError) {
  ASSERT_EQ(::mkdir((box / "d").c_str(), 0755), 0);
  ASSERT_EQ(::symlink((box / "d").c_str(), (box / "link").c_str()), 0);
  const Outcome o = outcome_of([&] { create(box / "link"); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_TRUE(starts_with(o.message,
                          "config_file '" + (box / "link") + "' is invalid: it is an existing "
                                                             "directory."))
      << o.message;
  EXPECT_TRUE(names_in(box / "d").empty());
  expect_untouched(box / "", {"d", "link"});
}

// A rename would replace the node with a plain file; opening a FIFO would
// wait for a writer forever.
TEST_F(BadInput, ConfigFileThatIsAFifoIsAValueError) {
  ASSERT_EQ(::mkfifo((box / "fifo").c_str(), 0644), 0);
  const Outcome o = outcome_of([&] { create(box / "fifo"); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_EQ(o.message, "config_file '" + (box / "fifo") +
                           "' is invalid: it is a FIFO, not a regular file. Pass the path of a "
                           "file, e.g. './quant_config.json'.");
  struct stat st {};
  ASSERT_EQ(::stat((box / "fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  expect_untouched(box / "", {"fifo"});
}

TEST_F(BadInput, PathThatIsNotUtf8NamesExactlyThatFile) {
  ASSERT_EQ(::unlink((box / "q.json").c_str()), 0);
  const std::string name = "q\xff\xfe.json";
  create(box / name);
  EXPECT_EQ(names_in(box / ""), std::set<std::string>{name});
  EXPECT_TRUE(starts_with(read_file(box / name), "{\n    \"version\":1,"));
}

// The message keeps the bytes; Python's binding shows them as \xff.
TEST_F(BadInput, LongPathThatIsNotUtf8IsNamedInTheMessage) {
  const std::string name(300, '\xff');
  const Outcome o = outcome_of([&] { create(box / name); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_TRUE(starts_with(o.message, "config_file's name{" + name + "} is invalid")) << o.message;
  expect_untouched(box / "");
}

TEST_F(BadInput, PathWithANulCharacterIsAValueError) {
  const Outcome o = outcome_of([&] { create(box / std::string("q\0.json", 7)); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_TRUE(starts_with(o.message, "config_file '" + (box / "q\\x00.json") +
                                         "' is invalid: it contains a NUL character"))
      << o.message;
  QuantConfigOptions options;
  options.config_definition = std::string("quant\0.cfg", 10);
  const Outcome cfg = outcome_of([&] { create(box / "q.json", options); });
  EXPECT_EQ(cfg.kind, ErrorKind::kValue);
  EXPECT_EQ(cfg.message, "config_defination 'quant\\x00.cfg' is invalid: it contains a NUL "
                         "character, which no file name can hold.");
  expect_untouched(box / "");
}

TEST_F(BadInput, FileNameOf255BytesIsAValueError) {
  const Outcome o = outcome_of([&] { create(box / std::string(255, 'a')); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_EQ(o.message, "config_file's name{" + std::string(255, 'a') +
                           "} is invalid, '/' is reserved characters, length should be less "
                           "than 255.");
  expect_untouched(box / "");
}

TEST_F(BadInput, FileNameOf254BytesIsWritten) {
  create(box / std::string(254, 'a'));
  EXPECT_EQ(names_in(box / ""), (std::set<std::string>{"q.json", std::string(254, 'a')}));
}

TEST_F(BadInput, FolderNameLongerThan255BytesIsAnOSError) {
  const std::string dir = box / std::string(256, 'd');
  const Outcome o = outcome_of([&] { create(dir + "/q.json"); });
  EXPECT_EQ(o.kind, ErrorKind::kOS);
  EXPECT_TRUE(starts_with(o.message, "[Errno 36] File name too long: '" + dir + "'")) << o.message;
  expect_untouched(box / "");
}

// ---- quant.cfg ----------------------------------------------------------------------------------

Outcome with_cfg(const Sandbox& box, const std::string& text) {
  box.write("quant.cfg", text);
  QuantConfigOptions options;
  options.config_definition = box / "quant.cfg";
  return outcome_of([&] { create(box / "q.json", options); });
}

TEST_F(BadInput, CfgWithNanInfNegativeOrHugeValues) {
  const std::string ifmr = "common_config { ifmr_quantize { ";
  const struct {
    std::string cfg;
    ErrorKind kind;
    std::string message;
  } cases[] = {
      {ifmr + "max_percentile: nan } }", ErrorKind::kValue,
       "The max_percentile must be greater than 0.5 and less than or equal to 1.0 in layer conv"},
      {ifmr + "min_percentile: -inf } }", ErrorKind::kValue,
       "The min_percentile must be greater than 0.5 and less than or equal to 1.0 in layer conv"},
      {ifmr + "search_range_start: -1 } }", ErrorKind::kValue,
       "search_range[0] must be greater than zero in layer conv"},
      {ifmr + "search_step: nan } }", ErrorKind::kValue,
       "The search_step must be greater than zero in layer conv"},
      {ifmr + "search_step: 1e39 } }", ErrorKind::kValue,
       "The search_step must be less than or equal to (search_range[1] - search_range[0]) in "
       "layer conv"},
      {"common_config { ada_quantize { reg_param: nan } }", ErrorKind::kValue,
       "reg_param must be less than 1 and larger than 0 in layer conv"},
      {"common_config { dmq_balancer { migration_strength: inf } }", ErrorKind::kValue,
       "The dmq_balancer_param must be in range [0.2, 0.8] in layer conv"},
      {"common_config { hfmg_quantize { num_of_bins: 4294967295 } }", ErrorKind::kValue,
       "num_of_bins 4294967295 must be in [1024, 2048, 4096, 8192] in layer conv"},
      {"batch_num: -1", ErrorKind::kConfigParse, "1:12 : 'batch_num: -1': Value out of range: -1"},
      {"batch_num: 99999999999999999999999", ErrorKind::kConfigParse,
       "1:12 : 'batch_num: 99999999999999999999999': Value out of range: "
       "99999999999999999999999"},
  };
  for (const auto& c : cases) {
    const Outcome o = with_cfg(box, c.cfg);
    EXPECT_TRUE(o.threw) << c.cfg;
    EXPECT_EQ(o.kind, c.kind) << c.cfg;
    EXPECT_EQ(o.message, c.message) << c.cfg;
    expect_untouched(box / "", {"quant.cfg"});
  }
}

TEST_F(BadInput, DeeplyNestedBracesAreAConfigParseError) {
  std::string blocks, braces(1000000, '{');
  for (int i = 0; i < 100000; ++i) blocks += "common_config {";
  for (const auto& [cfg, position] : {std::pair<std::string, std::string>{blocks, "1:16 : "},
                                      {braces, "1:1 : "},
                                      {"common_config { ifmr_quantize { ", "1:31 : "}}) {
    const Outcome o = with_cfg(box, cfg);
    EXPECT_EQ(o.kind, ErrorKind::kConfigParse);
    EXPECT_TRUE(starts_with(o.message, position)) << o.message.substr(0, 200);
    expect_untouched(box / "", {"quant.cfg"});
  }
}

// `layers` Linear layers, each with its own override; leaves the config in
// q.json.
void create_with_overrides(const Sandbox& box, int layers) {
  LayerTable table;
  table.modules.push_back({"", "Net"});
  std::string cfg;
  for (int i = 0; i < layers; ++i) {
    const std::string name = "blocks." + std::to_string(i);
    table.modules.push_back(layer(name, "Linear", 2, i));
    cfg += "override_layer_configs { layer_name: \"" + name +
           "\" calibration_config { ifmr_quantize { search_step: 0.02 } } }\n";
  }
  box.write("quant.cfg", cfg);
  QuantConfigOptions options;
  options.config_definition = box / "quant.cfg";
  TableSource source(table);
  create_quant_config(box / "q.json", source, options);
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++n;
  return n;
}

// 100,000 layers, each with its own override, all written. (That no step is
// quadratic, as the layer-name validation and the JSON key insertion were,
// is measured in bench/overrides.py.)
TEST_F(BadInput, HundredThousandOverridesOfHundredThousandLayers) {
  create_with_overrides(box, 100000);
  const std::string text = read_file(box / "q.json");
  EXPECT_EQ(occurrences(text, "\"quant_enable\":true"), 100000u);
  EXPECT_EQ(occurrences(text, "\"search_step\":0.02,"), 100000u);
  EXPECT_NE(text.find("\"blocks.99999\":{"), std::string::npos);
}

TEST_F(BadInput, HundredThousandOverridesOfUnknownLayersNameTheFirst) {
  std::string cfg;
  for (int i = 0; i < 100000; ++i)
    cfg += "override_layer_configs { layer_name: \"l" + std::to_string(i) +
           "\" calibration_config { } }\n";
  const Outcome o = with_cfg(box, cfg);
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_EQ(o.message, "Layer l0 does not exist in the graph.");
  expect_untouched(box / "", {"quant.cfg"});
}

// ---- models --------------------------------------------------------------------------------------

TEST_F(BadInput, ModelWithoutModulesHasNoLayerToQuantize) {
  LayerTable root_only;
  root_only.modules.push_back({"", "Net"});
  TableSource source(root_only);
  const Outcome o = outcome_of([&] { create_quant_config(box / "q.json", source); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_EQ(o.message, "No layer support quantization in the graph.");
  expect_untouched(box / "");
}

TEST_F(BadInput, ForwardThatFailsKeepsItsMessage) {
  TableSource source(small_net(), "The model's forward() failed on the given inputs: boom");
  const Outcome o = outcome_of([&] { create_quant_config(box / "q.json", source); });
  EXPECT_EQ(o.kind, ErrorKind::kRuntime);
  EXPECT_EQ(o.message, "The model's forward() failed on the given inputs: boom");
  expect_untouched(box / "");
}

TEST_F(BadInput, ArgumentErrorsComeBeforeTheModelRuns) {
  TableSource source(small_net());
  QuantConfigOptions options;
  options.batch_num = 0;
  EXPECT_EQ(outcome_of([&] { create_quant_config(box / "q.json", source, options); }).kind,
            ErrorKind::kValue);
  options = {};
  options.config_definition = box / "missing.cfg";
  const Outcome o = outcome_of([&] { create_quant_config(box / "q.json", source, options); });
  EXPECT_EQ(o.kind, ErrorKind::kFileNotFound);
  EXPECT_EQ(o.message, "[Errno 2] No such file or directory: '" + (box / "missing.cfg") + "'");
  EXPECT_EQ(source.captures, 0);
  expect_untouched(box / "");
}

// ---- TorchScript files (the CLI) ----------------------------------------------------------------

#ifdef OPENAMCT_CLI
// Runs the CLI with `args` in `dir`; returns the exit status and stderr.
std::pair<int, std::string> run_cli(const std::string& dir, const std::string& args) {
  const std::string command =
      "cd '" + dir + "' && '" OPENAMCT_CLI "' " + args + " 2>cli.err >/dev/null";
  const int status = std::system(command.c_str());
  std::string err = read_file(dir + "/cli.err");
  ::unlink((dir + "/cli.err").c_str());
  return {status, err};
}

bool cli_has_create_quant_config(const std::string& dir) {
  const std::string command = "'" OPENAMCT_CLI "' --help >'" + dir + "/help.txt' 2>&1";
  (void)std::system(command.c_str());
  const std::string help = read_file(dir + "/help.txt");
  ::unlink((dir + "/help.txt").c_str());
  return help.find("create-quant-config") != std::string::npos;
}

TEST_F(BadInput, CliOnAFileThatIsNotTorchScript) {
  if (!cli_has_create_quant_config(box / "")) GTEST_SKIP() << "the CLI has no create-quant-config";
  for (const std::string content : {std::string(), std::string("not a model"),
                                    std::string("PK\x03\x04", 4) + std::string(64, '\0')}) {
    box.write("model.pt", content);
    const auto [status, err] = run_cli(
        box / "", "create-quant-config --model model.pt --input-shape 1,3,8,8 -o q.json");
    ASSERT_TRUE(WIFEXITED(status)) << "the CLI died: status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 1);
    EXPECT_TRUE(starts_with(err, "error: cannot load the TorchScript model 'model.pt': ")) << err;
    expect_untouched(box / "", {"model.pt"});
  }
  ::unlink((box / "model.pt").c_str());
  const auto [status, err] = run_cli(
      box / "", "create-quant-config --model missing.pt --input-shape 1,3,8,8 -o q.json");
  ASSERT_TRUE(WIFEXITED(status)) << "the CLI died: status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(err.find("missing.pt"), std::string::npos) << err;
  expect_untouched(box / "");
}
#endif

// ---- nothing lost -------------------------------------------------------------------------------

// Two processes write one config file 200 times each, with different
// contents; a reader never sees anything but one of the two complete files.
TEST_F(BadInput, TwoProcessesWritingOneConfigLeaveOneCompleteConfig) {
  QuantConfigOptions one, two;
  two.batch_num = 2;
  create(box / "one.json", one);
  create(box / "two.json", two);
  const std::string expected[] = {read_file(box / "one.json"), read_file(box / "two.json")};
  ASSERT_NE(expected[0], expected[1]);

  std::vector<pid_t> writers;
  for (const QuantConfigOptions* options : {&one, &two}) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      int failures = 0;
      for (int i = 0; i < 200; ++i) {
        try {
          create(box / "q.json", *options);
        } catch (...) {
          ++failures;
        }
      }
      ::_exit(failures == 0 ? 0 : 1);
    }
    writers.push_back(pid);
  }
  int reads = 0;
  std::vector<int> statuses(writers.size(), -1);
  while (std::count(statuses.begin(), statuses.end(), -1) > 0) {
    const std::string text = read_file(box / "q.json");
    if (text != kOldConfig) {
      ++reads;
      ASSERT_TRUE(text == expected[0] || text == expected[1]) << "a torn config:\n" << text;
    }
    for (size_t i = 0; i < writers.size(); ++i)
      if (statuses[i] == -1 && ::waitpid(writers[i], &statuses[i], WNOHANG) == 0)
        statuses[i] = -1;
  }
  EXPECT_EQ(statuses, std::vector<int>(writers.size(), 0));  // every write succeeded
  const std::string last = read_file(box / "q.json");
  EXPECT_TRUE(last == expected[0] || last == expected[1]);
  EXPECT_GT(reads, 0);
  EXPECT_EQ(names_in(box / ""), (std::set<std::string>{"q.json", "one.json", "two.json"}));
}

// ---- check_config: a hand-edited config (calibration spec §3) -----------------------------

// A config of small_net() with `conv` enabled, then `edit` spliced in before
// the closing brace.
std::string small_config(const std::string& edit = "") {
  return "{\"version\":1,\"batch_num\":1,\"conv\":{\"quant_enable\":true,"
         "\"activation_quant_params\":{}}" + edit + "}";
}

TEST_F(BadInput, CheckConfigOfAnotherModelNamesTheUnknownLayer) {
  box.write("c.json", small_config(",\"layer4.1.conv2\":{\"quant_enable\":true,"
                                   "\"activation_quant_params\":{}}"));
  TableSource source(small_net());
  const Outcome o = outcome_of([&] { check_config(box / "c.json", source); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_EQ(o.message, "layer4.1.conv2 is an invalid layer name or parameter.");
  expect_untouched(box / "", {"c.json"});
}

TEST_F(BadInput, CheckConfigLayerWithoutActivationParamsIsAValueErrorNotAKeyError) {
  box.write("c.json", "{\"conv\":{\"quant_enable\":true}}");
  TableSource source(small_net());
  const Outcome o = outcome_of([&] { check_config(box / "c.json", source); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_TRUE(starts_with(o.message, "activation_quant_params is missing in layer conv"))
      << o.message;
}

TEST_F(BadInput, CheckConfigBadValueAndBadType) {
  TableSource source(small_net());
  box.write("c.json", small_config(",\"fc\":{\"quant_enable\":true,\"activation_quant_params\":"
                                   "{\"search_range\":[1.3,0.7]}}"));
  Outcome o = outcome_of([&] { check_config(box / "c.json", source); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_EQ(o.message, "search_range[0] must be less than search_range[1] in layer fc");
  box.write("c.json", small_config(",\"do_fusion\":\"yes\""));
  o = outcome_of([&] { check_config(box / "c.json", source); });
  EXPECT_EQ(o.kind, ErrorKind::kType);
  EXPECT_EQ(o.message, "Type of do_fusion should be <class 'bool'>, but is <class 'str'>");
}

TEST_F(BadInput, CheckConfigFileNameErrorsComeBeforeTheModelRuns) {
  TableSource source(small_net());
  Outcome o = outcome_of([&] { check_config("", source); });
  EXPECT_EQ(o.message, "empty string is an invalid value for config_file");
  o = outcome_of([&] { check_config(box / "", source); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_EQ(o.message, "config_file{" + (box / "") + "} should be a file's name but a path.");
  o = outcome_of([&] { check_config(box / "missing.json", source); });
  EXPECT_EQ(o.kind, ErrorKind::kOS);
  EXPECT_EQ(o.message, "file (" + (box / "missing.json") + ") does not exist!");
  EXPECT_EQ(source.captures, 0);
  expect_untouched(box / "");
}

TEST_F(BadInput, CheckConfigThatIsNotJsonOrNotUtf8) {
  TableSource source(small_net());
  box.write("c.json", "{\"conv\": {\"quant_enable\": tru}}");
  Outcome o = outcome_of([&] { check_config(box / "c.json", source); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_EQ(o.message, "Expecting value: line 1 column 27 (char 26)");
  box.write("c.json", std::string("{\"c\xe9\":1}"));
  o = outcome_of([&] { check_config(box / "c.json", source); });
  EXPECT_EQ(o.kind, ErrorKind::kValue);
  EXPECT_TRUE(starts_with(o.message, "'utf-8' codec can't decode byte 0xe9 in position 3"))
      << o.message;
}

}  // namespace
}  // namespace openamct
