// The `openamct` command: help, usage errors (exit 2, one line), model and
// argument errors (exit 1, `error: <Python type>: <message>`), and the two
// subcommands on TorchScript fixtures. The bytes it writes are compared with
// the C++ API in test_torchscript_capture.cpp and with the Python API in
// tests/python/test_interfaces.py.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "../models/fixtures.h"
#include "temp_dir.h"

namespace openamct {
namespace {

namespace fs = std::filesystem;

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CliResult {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs `openamct <args>` in a fresh temporary directory, which is also where
// relative output paths land; the directory is removed with the object.
class CliRun {
 public:
  CliRun() : tmp_("cli"), dir_(tmp_.path()) {}

  CliResult operator()(const std::vector<std::string>& args) const {
    std::string command = "cd " + quote(dir_.string()) + " && " + quote(OPENAMCT_CLI);
    for (const auto& a : args) command += " " + quote(a);
    command += " >" + quote((dir_ / "stdout").string()) + " 2>" + quote((dir_ / "stderr").string());
    CliResult r;
    const int raw = std::system(command.c_str());
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = read_file(dir_ / "stdout");
    r.err = read_file(dir_ / "stderr");
    return r;
  }

  const fs::path& dir() const { return dir_; }

 private:
  TempDir tmp_;
  fs::path dir_;
};

size_t line_count(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// ---- help --------------------------------------------------------------------------

TEST(Cli, HelpNamesBothCommands) {
  CliResult r = CliRun()({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("create-quant-config"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("layers"), std::string::npos) << r.out;
}

TEST(Cli, SaveModelHelpListsTheFormats) {
  CliResult r = CliRun()({"save-model", "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--format FORMAT"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("deploy, fake_quant, qdq"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("without --format:\n                            deploy,fake_quant"),
            std::string::npos) << r.out;
}

TEST(Cli, CreateQuantConfigHelpListsEveryOptionAndTheDefaults) {
  CliResult r = CliRun()({"create-quant-config", "--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* option : {"--model", "--input-shape", "--output", "--skip-layer", "--batch-num",
                             "--activation-offset", "--config-definition", "manual_seed(1)",
                             "(default 1)", "(default true)"})
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
}

TEST(Cli, BadLogLevelIsAValueErrorNamingTheLevels) {
  ::setenv("OPENAMCT_LOG_LEVEL", "loud", 1);
  const CliResult r = CliRun()({"layers", "--model", "m.pt", "--input-shape", "1,3,8,8"});
  ::unsetenv("OPENAMCT_LOG_LEVEL");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "error: ValueError: OPENAMCT_LOG_LEVEL='LOUD' is not a log level; use DEBUG, INFO, "
            "WARNING or ERROR\n");
}

TEST(Cli, LayersHelp) {
  CliResult r = CliRun()({"layers", "-h"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("usage: openamct layers"), std::string::npos) << r.out;
}

// ---- bad usage: exit 2, one line ---------------------------------------------------

struct UsageCase {
  std::vector<std::string> args;
  std::string message;  // the start of the single stderr line
};

class CliUsage : public ::testing::TestWithParam<UsageCase> {};

TEST_P(CliUsage, IsOneLineAndExitStatusTwo) {
  CliResult r = CliRun()(GetParam().args);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err.rfind(GetParam().message, 0), 0u) << r.err;
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

const std::vector<std::string> kModel = {"--model", "m.pt", "--input-shape", "1,3,8,8"};

std::vector<std::string> with_model(std::vector<std::string> args) {
  args.insert(args.begin() + 1, kModel.begin(), kModel.end());
  return args;
}

INSTANTIATE_TEST_SUITE_P(
    Cli, CliUsage,
    ::testing::Values(
        UsageCase{{}, "openamct: error: a command is required"},
        UsageCase{{"quantize"}, "openamct: error: unknown command 'quantize'"},
        UsageCase{{"layers", "--input-shape", "1,3"}, "openamct layers: error: --model is required"},
        UsageCase{{"layers", "--model", "m.pt"}, "openamct layers: error: --input-shape is required"},
        UsageCase{{"layers", "--model", "m.pt", "--input-shape", "1,,3"},
                  "openamct layers: error: invalid --input-shape '1,,3'"},
        UsageCase{{"layers", "--model", "m.pt", "--input-shape", "1x3"},
                  "openamct layers: error: invalid --input-shape '1x3'"},
        UsageCase{{"layers", "--model", "m.pt", "--input-shape", "-1,3"},
                  "openamct layers: error: invalid --input-shape '-1,3'"},
        UsageCase{with_model({"layers", "--skip-layer", "fc"}),
                  "openamct layers: error: unknown option '--skip-layer'"},
        UsageCase{with_model({"layers", "extra"}), "openamct layers: error: unexpected argument 'extra'"},
        UsageCase{with_model({"layers", "--model", "other.pt"}),
                  "openamct layers: error: option --model is given more than once"},
        UsageCase{with_model({"create-quant-config"}),
                  "openamct create-quant-config: error: --output is required"},
        UsageCase{with_model({"create-quant-config", "-o"}),
                  "openamct create-quant-config: error: option --output needs a value"},
        UsageCase{with_model({"create-quant-config", "-o", "c.json", "--batch-num", "two"}),
                  "openamct create-quant-config: error: invalid --batch-num 'two': expected an "
                  "integer"},
        UsageCase{with_model({"create-quant-config", "-o", "c.json", "--activation-offset", "yes"}),
                  "openamct create-quant-config: error: invalid --activation-offset 'yes': "
                  "expected true or false"},
        UsageCase{{"save-model", "--modified", "m.onnx", "--record", "r.txt", "-o", "q",
                   "--format", "deploy,int8"},
                  "openamct save-model: error: invalid --format 'int8': expected deploy, "
                  "fake_quant, qdq or qdq_full"},
        UsageCase{{"save-model", "--modified", "m.onnx", "--record", "r.txt", "-o", "q",
                   "--format", ""},
                  "openamct save-model: error: invalid --format '': expected deploy, "
                  "fake_quant, qdq or qdq_full"},
        UsageCase{{"save-model", "--modified", "m.onnx", "--record", "r.txt", "-o", "q",
                   "--format", "qdq", "--format", "deploy,qdq"},
                  "openamct save-model: error: --format names 'qdq' twice"}));

// ---- model errors: exit 1 ----------------------------------------------------------------

TEST(Cli, MissingModelFileIsNamed) {
  CliResult r = CliRun()({"layers", "--model", "nowhere.pt", "--input-shape", "1,3,8,8"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "error: cannot load the TorchScript model 'nowhere.pt': no such file\n");
}

TEST(Cli, FileThatIsNotTorchScriptIsNamed) {
  CliRun run;
  std::ofstream(run.dir() / "weights.pt") << "not a zip archive";
  CliResult r = run({"layers", "--model", "weights.pt", "--input-shape", "1,3,8,8"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("error: cannot load the TorchScript model 'weights.pt': ", 0), 0u) << r.err;
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
}

// ---- the subcommands on fixtures -------------------------------------------------------

class CliOnModel : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why_not;
    const std::string dir = testing::torchscript_fixture_dir(&why_not);
    if (dir.empty()) GTEST_SKIP() << "skipped: " << why_not;
    model_ = dir + "/calls_scripted.pt";
  }

  std::vector<std::string> create(std::vector<std::string> extra) const {
    std::vector<std::string> args = {"create-quant-config", "--model", model_,
                                     "--input-shape", "1,3,8,8", "-o", "out/config.json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::string model_;
};

TEST_F(CliOnModel, LayersPrintsAnAlignedVerdictTable) {
  CliResult r = CliRun()({"layers", "--model", model_, "--input-shape", "1,3,8,8"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  ASSERT_EQ(rows.size(), 7u) << r.out;  // header + 6 layers
  EXPECT_EQ(rows[0].rfind("NAME", 0), 0u);
  const size_t type_column = rows[0].find("TYPE");
  const size_t verdict_column = rows[0].find("VERDICT");
  const size_t reason_column = rows[0].find("REASON");
  ASSERT_NE(reason_column, std::string::npos);
  for (size_t i = 1; i < rows.size(); ++i) {
    for (size_t column : {type_column, verdict_column, reason_column}) {
      ASSERT_GT(rows[i].size(), column) << rows[i];
      EXPECT_NE(rows[i][column], ' ') << rows[i];  // every cell starts at its column
      EXPECT_EQ(rows[i][column - 1], ' ') << rows[i];
    }
  }
  EXPECT_EQ(rows[1].rfind("stem ", 0), 0u);
  EXPECT_NE(rows[2].find(" reused "), std::string::npos) << rows[2];
  EXPECT_NE(rows[4].find(" not_executed "), std::string::npos) << rows[4];
  EXPECT_NE(rows[5].find(" unbatched_input "), std::string::npos) << rows[5];
}

TEST_F(CliOnModel, CreateQuantConfigWritesTheConfig) {
  CliRun run;
  CliResult r = run(create({"--skip-layer", "head", "--batch-num", "3", "--activation-offset",
                            "false"}));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string config = read_file(run.dir() / "out" / "config.json");
  EXPECT_EQ(config.rfind("{\n    \"version\":1,\n    \"batch_num\":3,\n"
                         "    \"activation_offset\":false,", 0), 0u) << config;
  EXPECT_NE(config.find("\"head\":{\n        \"quant_enable\":false"), std::string::npos) << config;
  EXPECT_NE(config.find("\"stem\""), std::string::npos);
  EXPECT_EQ(config.find("\"twice\""), std::string::npos);
  EXPECT_NE(config.back(), '\n');
}

TEST_F(CliOnModel, ApiErrorsNameThePythonType) {
  CliRun run;
  CliResult r = run(create({"--skip-layer", "nope"}));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("error: ValueError: Layer nope does not exist in the graph."),
            std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(run.dir() / "out" / "config.json"));

  r = run(create({"--batch-num", "0"}));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("error: ValueError: The batch_num must be greater than zero."),
            std::string::npos) << r.err;
}

TEST_F(CliOnModel, InputOfTheWrongShapeIsARuntimeError) {
  CliRun run;
  CliResult r = run({"create-quant-config", "--model", model_, "--input-shape", "1,5,8,8", "-o",
                     "config.json"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("error: RuntimeError: The model's forward() failed on the given inputs: ",
                        0), 0u) << r.err;
  EXPECT_FALSE(fs::exists(run.dir() / "config.json"));
}

TEST_F(CliOnModel, TooManyInputsIsARuntimeError) {
  CliResult r = CliRun()({"layers", "--model", model_, "--input-shape", "1,3,8,8",
                          "--input-shape", "1,3,8,8"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("error: RuntimeError: The inputs do not fit the model's forward(): ", 0),
            0u) << r.err;
}

}  // namespace
}  // namespace openamct
