#include "agent/notify.h"

#include <systemd/sd-daemon.h>

namespace kw {
namespace {

class SystemdNotifier final : public Notifier {
 public:
  void Notify(const std::string& state) override { sd_notify(0, state.c_str()); }
  Duration WatchdogInterval() const override {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0) return Duration::zero();
    return std::chrono::microseconds(usec);
  }
};

}  // namespace

std::unique_ptr<Notifier> MakeSystemdNotifier() { return std::make_unique<SystemdNotifier>(); }

std::string StatusLine(const Snapshot& snap) {
  int passing = 0, waiting = 0;
  std::string failing;
  for (const CheckState& c : snap.checks) {
    if (!c.has_result) {
      ++waiting;
    } else if (c.up) {
      ++passing;
    } else {
      std::string detail = c.last.detail.substr(0, 60);
      failing += (failing.empty() ? "" : ", ") + c.name + " (" + Describe(c.last.outcome).name +
                 (detail.empty() ? "" : ": " + detail) + ")";
    }
  }
  std::string line =
      std::to_string(passing) + "/" + std::to_string(snap.checks.size()) + " checks passing";
  if (waiting) line += ", " + std::to_string(waiting) + " waiting for a first result";
  if (!failing.empty()) line += "; failing: " + failing;
  return line;
}

}  // namespace kw
