// Runs every check on its interval (with jitter) and its timeout, debounces results with
// rise/fall, and publishes an immutable Snapshot after every change.
//
// Each check has its own ProbeRunner thread.  A probe still running at its deadline is
// recorded as `timeout`; while it stays stuck, each interval that passes is another
// timeout (so `fall` counts on) and no second probe is started.  A late result is
// discarded; the next probe after the stuck one returns starts on schedule.
//
// Poll() does one round of that work at the clock's current time and returns when the
// next one is due; Run() loops over Poll on its own thread until stopped.  Tests drive
// Poll() with a fake clock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "agent/hysteresis.h"
#include "agent/probe_runner.h"
#include "agent/snapshot.h"
#include "checks/registry.h"

namespace kw {

struct Transition {
  std::string check;
  bool first = false;  // the check's first result
  bool old_up = false;
  bool new_up = false;
  std::string detail;
};

// Called on the scheduler thread after each publication, with the debounced changes
// that it contains (often none: raw results change more often than states).
using PublishHook = std::function<void(const Snapshot&, const std::vector<Transition>&)>;

class Scheduler {
 public:
  Scheduler(std::vector<BuiltCheck> checks, const Clock& clock, SnapshotBox& box, uint64_t seed);
  ~Scheduler();

  void OnPublish(PublishHook hook) { hooks_.push_back(std::move(hook)); }

  // One round at clock.Now(): harvest results, time out overdue probes, start due ones,
  // publish if anything changed.  Returns when the next round is due.
  TimePoint Poll();
  // Loops over Poll until Stop(); wakes early when a probe finishes.
  void Run();
  void Stop();
  // The last time the loop went round (for /liveness and the watchdog).
  TimePoint heartbeat() const { return TimePoint(Duration(heartbeat_.load())); }
  // True while the index-th check's probe thread is running (tests).
  bool Busy(size_t index) const;

 private:
  struct Entry;
  void Record(Entry& e, CheckResult r, Duration took, std::vector<Transition>& changes);
  Duration Jitter(Duration interval);
  void Wake();

  const Clock& clock_;
  SnapshotBox& box_;
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<PublishHook> hooks_;
  TimePoint started_;
  std::atomic<Duration::rep> heartbeat_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;
};

}  // namespace kw
