// The log level: one reading of OPENAMCT_LOG_LEVEL for the CLI, the Python
// package and the stderr sink.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "openamct/errors.h"
#include "openamct/log.h"
#include "test_util.h"

namespace openamct {
namespace {

// Sets OPENAMCT_LOG_LEVEL (or unsets it for nullptr) for one test.
class ScopedLogLevel {
 public:
  explicit ScopedLogLevel(const char* value) {
    const char* old = std::getenv("OPENAMCT_LOG_LEVEL");
    if (old) saved_ = old, had_ = true;
    if (value)
      ::setenv("OPENAMCT_LOG_LEVEL", value, 1);
    else
      ::unsetenv("OPENAMCT_LOG_LEVEL");
  }
  ~ScopedLogLevel() {
    if (had_)
      ::setenv("OPENAMCT_LOG_LEVEL", saved_.c_str(), 1);
    else
      ::unsetenv("OPENAMCT_LOG_LEVEL");
  }

 private:
  std::string saved_;
  bool had_ = false;
};

TEST(LogLevel, UnsetIsInfo) {
  ScopedLogLevel level(nullptr);
  EXPECT_EQ(log_level_from_environment(), LogLevel::kInfo);
}

TEST(LogLevel, NamesInAnyCase) {
  for (const auto& [text, expected] :
       {std::pair<const char*, LogLevel>{"DEBUG", LogLevel::kDebug},
        {"info", LogLevel::kInfo},
        {"Warning", LogLevel::kWarning},
        {"error", LogLevel::kError}}) {
    ScopedLogLevel level(text);
    EXPECT_EQ(log_level_from_environment(), expected) << text;
  }
}

TEST(LogLevel, UnknownOrEmptyIsAValueErrorListingTheLevels) {
  for (const auto& [text, shown] : {std::pair<const char*, const char*>{"loud", "'LOUD'"},
                                    {"", "''"},
                                    {"WARN", "'WARN'"}}) {
    ScopedLogLevel level(text);
    ErrorKind kind = ErrorKind::kRuntime;
    EXPECT_EQ(error_of([] { log_level_from_environment(); }, &kind),
              std::string("OPENAMCT_LOG_LEVEL=") + shown +
                  " is not a log level; use DEBUG, INFO, WARNING or ERROR");
    EXPECT_EQ(kind, ErrorKind::kValue);
  }
}

}  // namespace
}  // namespace openamct
