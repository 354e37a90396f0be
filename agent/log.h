// Logging: to the journal with structured fields when running under systemd (stderr is
// connected to the journal: $JOURNAL_STREAM matches it), to stderr otherwise.
// Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/config.h"

namespace kw {

using LogFields = std::vector<std::pair<std::string, std::string>>;

class Logger {
 public:
  virtual ~Logger() = default;
  // fields: extra journal fields, upper-case names ("CHECK", "OLD_STATE", "NEW_STATE").
  virtual void Log(LogLevel level, std::string_view message, const LogFields& fields = {}) = 0;
};

// The logger for this process: journal or stderr, dropping levels below `min`.
std::unique_ptr<Logger> MakeLogger(LogLevel min);

}  // namespace kw
