// The one log sink. Messages keep the reference's texts; the prefix names
// OpenAMCT. The level threshold is read once from OPENAMCT_LOG_LEVEL.
#include "openamct/log.h"

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <mutex>
#include <string>
#include <utility>

#include "openamct/errors.h"
#include "text/python_repr.h"

namespace openamct {
namespace {

std::mutex& sink_mutex() {
  static std::mutex m;
  return m;
}

LogSink& current_sink() {
  static LogSink sink;
  return sink;
}

// The levels and their names, as Python's logging spells them.
constexpr std::pair<LogLevel, const char*> kLevelNames[] = {
    {LogLevel::kDebug, "DEBUG"},
    {LogLevel::kInfo, "INFO"},
    {LogLevel::kWarning, "WARNING"},
    {LogLevel::kError, "ERROR"},
};

LogLevel threshold() {
  static const LogLevel level = [] {
    try {
      return log_level_from_environment();
    } catch (const Error&) {
      return LogLevel::kInfo;
    }
  }();
  return level;
}

const char* level_name(LogLevel l) {
  for (const auto& [level, name] : kLevelNames)
    if (level == l) return name;
  return "INFO";
}

void stderr_sink(LogLevel level, const std::string& message) {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  std::cerr << stamp << " - " << level_name(level) << " - [OpenAMCT]: " << message << "\n";
}

// Messages name paths and layers, which may hold bytes that are not UTF-8 (a
// file name is any bytes). Sinks get valid UTF-8, each stray byte written as
// \xNN like Python's repr does: Python's sink could not even turn the message
// into a str, and a log line must never fail the call that logs it.
std::string as_valid_utf8(const std::string& message) {
  std::string out;
  std::size_t i = 0;
  while (i < message.size()) {
    std::uint32_t cp = 0;
    const std::size_t len = decode_utf8_at(message, i, cp);
    if (len > 0) {
      out.append(message, i, len);
      i += len;
      continue;
    }
    static const char kHex[] = "0123456789abcdef";
    const unsigned char byte = static_cast<unsigned char>(message[i++]);
    out += "\\x";
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0xf]);
  }
  return out;
}

}  // namespace

LogLevel log_level_from_environment() {
  const char* env = std::getenv("OPENAMCT_LOG_LEVEL");
  if (!env) return LogLevel::kInfo;
  std::string value = env;
  for (char& c : value) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& [level, name] : kLevelNames)
    if (value == name) return level;
  throw_value_error("OPENAMCT_LOG_LEVEL=" + python_str_repr(value) +
                    " is not a log level; use DEBUG, INFO, WARNING or ERROR");
}

void set_log_sink(LogSink sink) {
  std::lock_guard<std::mutex> lock(sink_mutex());
  current_sink() = std::move(sink);
}

void log(LogLevel level, const std::string& raw_message) {
  const std::string message = as_valid_utf8(raw_message);
  LogSink sink;
  {
    std::lock_guard<std::mutex> lock(sink_mutex());
    sink = current_sink();
  }
  if (sink) {
    // The Python sink applies Python's own level configuration.
    sink(level, message);
    return;
  }
  if (level < threshold()) return;
  stderr_sink(level, message);
}

}  // namespace openamct
