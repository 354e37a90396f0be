#include "agent/log.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace kw {
namespace {

int Priority(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return LOG_DEBUG;
    case LogLevel::kInfo:
      return LOG_INFO;
    case LogLevel::kWarning:
      return LOG_WARNING;
    case LogLevel::kError:
      return LOG_ERR;
  }
  return LOG_INFO;
}

class StderrLogger final : public Logger {
 public:
  explicit StderrLogger(LogLevel min) : min_(min) {}
  void Log(LogLevel level, std::string_view message, const LogFields& fields) override {
    if (level < min_) return;
    std::string line = std::string(LogLevelName(level)) + ": " + std::string(message);
    for (const auto& [k, v] : fields) line += " " + k + "=" + v;
    line += "\n";
    std::lock_guard<std::mutex> l(mu_);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }

 private:
  LogLevel min_;
  std::mutex mu_;
};

class JournalLogger final : public Logger {
 public:
  explicit JournalLogger(LogLevel min) : min_(min) {}
  void Log(LogLevel level, std::string_view message, const LogFields& fields) override {
    if (level < min_) return;
    std::vector<std::string> items;
    items.push_back("MESSAGE=" + std::string(message));
    items.push_back("PRIORITY=" + std::to_string(Priority(level)));
    items.push_back("SYSLOG_IDENTIFIER=keepwatchd");
    for (const auto& [k, v] : fields) items.push_back("KEEPWATCH_" + k + "=" + v);
    std::vector<iovec> iov;
    for (auto& s : items) iov.push_back(iovec{s.data(), s.size()});
    sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  }

 private:
  LogLevel min_;
};

// systemd sets JOURNAL_STREAM=dev:ino for the stream stderr is connected to.
bool StderrIsJournal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

}  // namespace

std::unique_ptr<Logger> MakeLogger(LogLevel min) {
  if (StderrIsJournal()) return std::make_unique<JournalLogger>(min);
  return std::make_unique<StderrLogger>(min);
}

}  // namespace kw
