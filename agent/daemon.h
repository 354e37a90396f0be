// The running agent: wires the scheduler, the HTTP server, logging and systemd together
// and supervises them until SIGTERM/SIGINT.
//
// Threads: the caller's (signals, READY/WATCHDOG, shutdown), the scheduler's, one per
// check probe, and libmicrohttpd's.  Block SIGTERM and SIGINT in every thread before
// constructing (BlockStopSignals) so that only Run() receives them.
#pragma once

#include <vector>

#include "agent/config.h"
#include "agent/log.h"
#include "agent/notify.h"
#include "checks/registry.h"

namespace kw {

// Blocks SIGTERM/SIGINT (inherited by threads created afterwards) and ignores SIGPIPE.
void BlockStopSignals();

// Runs until a stop signal; returns the process exit code (0 after a clean stop, 1 when
// the HTTP listener cannot start).
int RunDaemon(const Config& cfg, std::vector<BuiltCheck> checks, Logger& log, Notifier& notifier);

}  // namespace kw
