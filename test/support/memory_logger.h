// A logger that keeps every message, for a test to read back.  Thread-safe.
#pragma once

#include <mutex>
#include <string>

#include "agent/log.h"

namespace kw::test {

class MemoryLogger final : public Logger {
 public:
  void Log(LogLevel, std::string_view message, const LogFields&) override {
    std::lock_guard<std::mutex> l(mu_);
    text_ += std::string(message) + "\n";
  }
  // Every message so far, one a line.
  std::string Text() const {
    std::lock_guard<std::mutex> l(mu_);
    return text_;
  }

 private:
  mutable std::mutex mu_;
  std::string text_;
};

}  // namespace kw::test
