// What the agent knows, as one immutable value.
//
// The scheduler builds a new Snapshot after every probe result and publishes it; HTTP
// handlers, the systemd status line and the gossip layer only read the latest one
// (SnapshotBox::Get).  A Snapshot is never modified after publication.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "agent/clock.h"
#include "checks/check.h"

namespace kw {

struct CheckState {
  std::string name;
  std::string type;
  bool has_result = false;   // at least one probe finished (or timed out)
  bool up = false;           // debounced state (rise/fall)
  CheckResult last;          // raw result of the latest probe
  TimePoint last_run{};      // when the latest probe started
  Duration last_duration{};  // how long it took (deadline for a timeout)
  TimePoint since{};         // when `up` last changed (or the first result)
  int consecutive_failures = 0;
  int consecutive_successes = 0;
  uint64_t transitions = 0;  // debounced up/down changes
  uint64_t runs = 0;
  bool stuck = false;  // a probe is still running past its deadline
};

struct Snapshot {
  TimePoint taken{};
  TimePoint started{};  // agent start, for uptime
  std::vector<CheckState> checks;

  const CheckState* Find(std::string_view name) const {
    for (const CheckState& c : checks)
      if (c.name == name) return &c;
    return nullptr;
  }
  // The first check of a type ("postgres"), or null.
  const CheckState* FindType(std::string_view type) const {
    for (const CheckState& c : checks)
      if (c.type == type) return &c;
    return nullptr;
  }
  bool AllHaveResults() const {
    for (const CheckState& c : checks)
      if (!c.has_result) return false;
    return true;
  }
};

// Holds the latest snapshot.  Thread-safe; Get() is a mutex-guarded pointer copy.
class SnapshotBox {
 public:
  explicit SnapshotBox(std::shared_ptr<const Snapshot> initial) : snap_(std::move(initial)) {}
  std::shared_ptr<const Snapshot> Get() const {
    std::lock_guard<std::mutex> l(mu_);
    return snap_;
  }
  void Publish(std::shared_ptr<const Snapshot> s) {
    std::lock_guard<std::mutex> l(mu_);
    snap_ = std::move(s);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snap_;
};

}  // namespace kw
