// systemd service notifications (sd_notify): READY=1, STATUS=, WATCHDOG=1, STOPPING=1.
// Injected so tests can capture messages; the real one writes to $NOTIFY_SOCKET and does
// nothing when it is unset.  Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "agent/clock.h"
#include "agent/snapshot.h"

namespace kw {

class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual void Notify(const std::string& state) = 0;
  // The watchdog interval systemd asked for (WatchdogSec=), or zero.
  virtual Duration WatchdogInterval() const = 0;
};

std::unique_ptr<Notifier> MakeSystemdNotifier();

// The one-line STATUS= text: "4/5 checks passing; failing: filestore (timeout: ...)".
std::string StatusLine(const Snapshot& snap);

}  // namespace kw
