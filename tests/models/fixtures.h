// TorchScript fixture files for the C++ tests, made by make_fixtures.py at
// test time (no binary file is committed). The files land in a directory
// named after the script's contents, so every test process after the first
// reuses them; they are written to a temporary directory and renamed into
// place, so concurrent test processes never see half a set.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

namespace openamct {
namespace testing {

// The Python that builds the fixtures: OPENAMCT_PYTHON, else /usr/bin/python3.
inline std::string fixture_python() {
  const char* env = std::getenv("OPENAMCT_PYTHON");
  return env && *env ? env : "/usr/bin/python3";
}

// The directory holding <model>_{traced,scripted}.pt for every model of
// make_fixtures.py, or "" with `why_not` set when Python or torch is missing.
inline std::string torchscript_fixture_dir(std::string* why_not) {
  namespace fs = std::filesystem;
  const std::string script = std::string(OPENAMCT_SOURCE_DIR) + "/tests/models/make_fixtures.py";
  const std::string python = fixture_python();
  std::ifstream in(script, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const char* tmp = std::getenv("TMPDIR");
  const fs::path base = tmp && *tmp ? tmp : "/tmp";
  const fs::path dir = base / ("openamct_fixtures_" + std::to_string(::getuid()) + "_" +
                               std::to_string(std::hash<std::string>()(text)));
  if (fs::exists(dir / "complete")) return dir.string();

  if (std::system((python + " -c 'import torch' >/dev/null 2>&1").c_str()) != 0) {
    *why_not = python + " cannot import torch, so the TorchScript fixtures cannot be made";
    return "";
  }
  const fs::path staging = dir.string() + ".staging." + std::to_string(::getpid());
  const std::string command =
      python + " " + script + " '" + staging.string() + "' >'" + staging.string() + ".log' 2>&1";
  if (std::system(command.c_str()) != 0) {
    *why_not = "make_fixtures.py failed, see " + staging.string() + ".log";
    return "";
  }
  std::ofstream(staging / "complete") << "ok\n";
  std::error_code ec;
  fs::rename(staging, dir, ec);  // another process may have won the race
  fs::remove_all(staging, ec);
  fs::remove(staging.string() + ".log", ec);
  if (!fs::exists(dir / "complete")) {
    *why_not = "could not put the fixtures in " + dir.string();
    return "";
  }
  return dir.string();
}

}  // namespace testing
}  // namespace openamct
