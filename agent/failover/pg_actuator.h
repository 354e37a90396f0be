// What the failover does to the local PostgreSQL, for real (failover/service.h's
// PgActuator): promote, fence, unfence, rejoin.  Called on the failover's action thread.
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
// - Fence stop: pg_ctl stop -m fast (see Rejoin for who runs it); a server already down
//   is success.  It stays down: the operator, or a rejoin, starts it again.
// - Unfence (this node leads again): ALTER SYSTEM RESET default_transaction_read_only.
// - WalLsn (a switchover's final position, read after the fence): pg_current_wal_lsn();
//   with fence = stop the "Latest checkpoint location" of pg_controldata (run like pg_ctl)
//   when it shows a clean shutdown ("shut down") and no postmaster runs, else an error.
// - Rejoin: rejoin_command with KEEPWATCH_PRIMARY_HOST and KEEPWATCH_PRIMARY_PORT, or the
//   built-in (nothing when the server already streams from that primary): check that
//   pg_rewind can work (wal_log_hints or checksums in pg_controldata; the new primary
//   answers, is not in recovery, has full_page_writes, lets the source role read files
//   and replicate, and takes a CHECKPOINT so its control file shows its new timeline),
//   stop the server fast (or finish crash recovery in single-user mode if it crashed),
//   pg_rewind --write-recovery-conf (the source's password in PGPASSWORD, not argv),
//   put back the node's own postgresql.conf, pg_hba.conf, pg_ident.conf if they live in
//   the data directory (pg_rewind copied the source's), drop the fence's
//   default_transaction_read_only, primary_slot_name and every older primary_conninfo
//   from postgresql.auto.conf, pg_ctl start -w (its output to
//   DATA/keepwatch-start.log), then wait until the server is in recovery and its WAL
//   receiver streams from the new primary.  Every step has the deadline; a failure
//   names the step.
//
// The built-in stop and rejoin need the data directory, the configuration directory
// (pg_ctl -D: where postgresql.conf is) and the server's bin directory: they are
// learned from the server (data_directory, config_file, server_version_num) once per run,
// after a promote, fence or unfence that reached it, or at the start of a stop or rejoin,
// and saved in state_dir (pg_layout.h) whenever they differ from what was known, so an
// agent started while PostgreSQL is down uses what an earlier run learned.  Only a server
// that has never answered (nothing saved) cannot be handled.  A saved file that cannot be
// read or is damaged is logged and ignored; a failed save is logged.  The tools run as the
// owner of the data directory when the agent is root (setgid/setuid before exec), else as
// the agent, which must then own it.
#pragma once

#include <memory>
#include <string>

#include "agent/config.h"
#include "agent/failover/program.h"
#include "agent/failover/service.h"
#include "agent/log.h"
#include "checks/pg_connection.h"

namespace kw {

struct PgActuatorConfig {
  std::string conninfo;
  std::string promote_command;
  FenceMode fence = FenceMode::kReadonly;
  std::string fence_command;
  std::string rejoin_command;   // empty: the built-in pg_rewind
  std::string rejoin_conninfo;  // libpq keywords for the new primary, without host/port;
                                // empty: `conninfo` without its host, hostaddr, port
  std::string pg_bindir;        // empty: /usr/lib/postgresql/MAJOR/bin
  std::string state_dir;        // where the learned layout is kept; empty: not kept
};

// `connector` and `log` must outlive the actuator.  Reads the saved layout from
// cfg.state_dir now.
std::unique_ptr<PgActuator> MakePgActuator(const PgActuatorConfig& cfg,
                                           const PgConnector& connector, Logger& log);

// The conninfo pg_rewind uses for the new primary: `base`'s keywords (from
// rejoin_conninfo, else the check's conninfo) without host, hostaddr and port, plus the
// primary's host and port (the password only when asked for).  An error if `base` does
// not parse.
Result<std::string> SourceConninfo(const std::string& base, const HostPort& primary,
                                   bool with_password = true);

}  // namespace kw
