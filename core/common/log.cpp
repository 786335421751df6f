// The one log sink. Messages keep the reference's texts; the prefix names
// OpenAMCT. The level threshold is read once from OPENAMCT_LOG_LEVEL.
#include "openamct/log.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <mutex>
#include <string>

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

LogLevel threshold() {
  static const LogLevel level = [] {
    const char* env = std::getenv("OPENAMCT_LOG_LEVEL");
    std::string v = env ? env : "";
    if (v == "DEBUG") return LogLevel::kDebug;
    if (v == "WARNING") return LogLevel::kWarning;
    if (v == "ERROR") return LogLevel::kError;
    return LogLevel::kInfo;
  }();
  return level;
}

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARNING";
    case LogLevel::kError: return "ERROR";
  }
  return "INFO";
}

void stderr_sink(LogLevel level, const std::string& message) {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  std::cerr << stamp << " - " << level_name(level) << " - [OpenAMCT]: " << message << "\n";
}

}  // namespace

void set_log_sink(LogSink sink) {
  std::lock_guard<std::mutex> lock(sink_mutex());
  current_sink() = std::move(sink);
}

void log(LogLevel level, const std::string& message) {
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
