// Logging. The core reports through one sink: stderr by default, Python's
// `logging` module when loaded from Python. Level from OPENAMCT_LOG_LEVEL
// (DEBUG, INFO, WARNING, ERROR; default INFO), read by
// log_level_from_environment().
#pragma once

#include <functional>
#include <string>

namespace openamct {

enum class LogLevel { kDebug = 10, kInfo = 20, kWarning = 30, kError = 40 };

using LogSink = std::function<void(LogLevel, const std::string& message)>;

// The level OPENAMCT_LOG_LEVEL names, in any case; INFO when it is unset. Throws openamct::Error (ValueError) naming the value and the levels
// when it names none: the CLI and the Python package call it first and fail.
// (The stderr sink, which must never fail a call, reads it as INFO then.)
LogLevel log_level_from_environment();

// Replaces the sink; an empty function restores the stderr sink.
void set_log_sink(LogSink sink);
void log(LogLevel level, const std::string& message);

inline void log_debug(const std::string& m) { log(LogLevel::kDebug, m); }
inline void log_info(const std::string& m) { log(LogLevel::kInfo, m); }
inline void log_warning(const std::string& m) { log(LogLevel::kWarning, m); }

}  // namespace openamct
