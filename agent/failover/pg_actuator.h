// What the failover does to the local PostgreSQL, for real (failover/service.h's
// PgActuator): promote, fence, unfence.  Called on the failover's action thread.
//
// - Promote: promote_command if configured (PostgreSQL 11), else
//   SELECT pg_promote(wait => true) (12+).
// - Fence readonly: ALTER SYSTEM SET default_transaction_read_only = on, reload, and
//   terminate every other client backend so no session keeps writing.  This needs a role
//   allowed to run ALTER SYSTEM and pg_terminate_backend (a superuser, or on 15+
//   GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only and pg_signal_backend).
//   It stops well-behaved clients (Odoo); a client that sets its own
//   transaction_read_only = off is not stopped: use fence = command for a hard stop.
// - Fence command: fence_command through /bin/sh.  Fence none: nothing.
// - Unfence (this node leads again): ALTER SYSTEM RESET default_transaction_read_only.
#pragma once

#include <memory>
#include <string>

#include "agent/config.h"
#include "agent/failover/service.h"
#include "checks/pg_connection.h"

namespace kw {

struct PgActuatorConfig {
  std::string conninfo;
  std::string promote_command;
  FenceMode fence = FenceMode::kReadonly;
  std::string fence_command;
};

std::unique_ptr<PgActuator> MakePgActuator(const PgActuatorConfig& cfg,
                                           const PgConnector& connector);

// Runs `command` with /bin/sh -c in its own process group before the deadline (then the
// group is killed).  The error says how it ended and the last line it printed.
Status RunShell(const std::string& command, TimePoint deadline);

}  // namespace kw
