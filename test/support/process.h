// Child processes and temporary files for integration tests.  Everything a test starts
// is stopped and removed by the destructors, also when an assertion fails.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "agent/clock.h"

namespace kw::test {

// The directory of the running test binary (where keepwatchd and keepwatch are built).
std::string BuildDir();

// A temporary directory, removed recursively on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes a file under the directory and returns its path.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// A child process; stdout and stderr go to a log file.  The destructor sends SIGKILL
// (after Stop()'s SIGTERM, if that was not called) and reaps it.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
          const std::string& log_path = "");
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // Sends a signal.
  void Signal(int sig) const;
  // Waits for exit up to `limit`; returns the exit status (as from waitpid) or -1.
  int Wait(Duration limit);
  bool Running();
  std::string Log() const;  // what it printed so far

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_path_;
  bool own_log_ = false;
};

// Runs a command to completion (bounded by `limit`), returns exit code; output in *out.
int RunCommand(const std::vector<std::string>& argv, std::string* out = nullptr,
               Duration limit = seconds(30));

// Polls `cond` every 20ms until true or `limit` passes.
template <class F>
bool WaitFor(F cond, Duration limit) {
  TimePoint end = SteadyClock::now() + limit;
  while (SteadyClock::now() < end) {
    if (cond()) return true;
    struct timespec ts {
      0, 20 * 1000 * 1000
    };
    nanosleep(&ts, nullptr);
  }
  return cond();
}

// The whole content of a file ("" when it cannot be read).
std::string ReadFile(const std::string& path);

// A free TCP port on 127.0.0.1 (bound and released; races are unlikely in practice).
uint16_t FreePort();

}  // namespace kw::test
