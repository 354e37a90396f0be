// One check's probe thread.
//
// Start() hands the check a deadline and returns at once; the thread runs Check::Run and
// leaves the result for Take().  At most one probe is in flight: Start() refuses while
// the previous one has not returned, so a probe stuck in the kernel is never duplicated.
// The destructor stops the thread; if a probe is still stuck, the thread is detached
// (never joined) and keeps the check alive until Run returns.
// Start/Take/busy are called from the scheduler thread; on_done from the probe thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "checks/check.h"

namespace kw {

class ProbeRunner {
 public:
  struct Finished {
    CheckResult result;
    Duration took{};
  };

  // on_done is called on the probe thread after each probe (to wake the scheduler).
  ProbeRunner(std::string name, std::unique_ptr<Check> check, std::function<void()> on_done);
  ~ProbeRunner();
  ProbeRunner(const ProbeRunner&) = delete;
  ProbeRunner& operator=(const ProbeRunner&) = delete;

  // Starts a probe; false when one is still running.
  bool Start(TimePoint deadline);
  // How many probe threads this process has detached (see the destructor).  Such a
  // thread may still be inside a check's libraries, so the process must not run its
  // exit-time teardown (atexit handlers, static destructors: OpenSSL's cleanup frees the
  // locks libpq is using) under it; keepwatchd ends with _Exit when this is not zero.
  static int DetachedThreads();
  // The result of the finished probe, once.
  std::optional<Finished> Take();
  bool busy() const;

 private:
  struct Shared;
  static void Loop(std::shared_ptr<Shared> s);
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace kw
