// `postgres`: the local PostgreSQL's role, WAL positions, lag and writability.
//
// Keys: conninfo (libpq connection string, required; put the password in a passfile or
// ~/.pgpass, not here), max_lag (size, default 16MB: the lag /replica accepts when the
// request gives no ?lag=).  interval/timeout/rise/fall are the scheduler's.
//
// One probe = one round trip on one kept connection (checks/pg_connection.h).  The
// outcome is pass whenever PostgreSQL answered, whatever its role; the role endpoints
// (agent/roles.h) read the role from the result:
//   labels  role (primary|replica), wal_receiver (streaming|...|none), replication
//           (primary: "name state sync_state, ..."), sender (replica: upstream host:port),
//           conninfo (password removed), failure (on failure: refused, auth_failed, ...)
//   values  in_recovery, read_only, writable, server_version_num, timeline, current_lsn,
//           received_lsn, replayed_lsn, latest_end_lsn, lag_bytes, lag_seconds,
//           replay_age_seconds, replay_paused, replicas, replicas_streaming,
//           replicas_sync, replica_max_lag_bytes, max_lag_bytes, query_seconds
// LSNs are byte positions (pg_wal_lsn_diff(lsn, '0/0')).  A failure is kTimeout when
// PostgreSQL did not answer in time (connect timeout, hung query) and kFail otherwise.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "checks/pg_connection.h"
#include "checks/registry.h"

namespace kw {

// The one statement a probe runs.  Works on PostgreSQL 11 through 17.
extern const char kPostgresProbeSql[];

struct PostgresOptions {
  std::string conninfo;
  uint64_t max_lag = 16ull << 20;
};

// The check over a given connector (tests inject a fake; the factory uses libpq).
std::unique_ptr<Check> NewPostgresCheck(PostgresOptions options,
                                        std::unique_ptr<PgConnector> connector);

// Turns one probe's reply into the check result (pure; exposed for tests).
CheckResult InterpretPostgresReply(const PgReply& reply, const PostgresOptions& options,
                                   double query_seconds);

std::unique_ptr<Check> MakePostgresCheck(KeyReader& keys, const CheckEnv& env);

}  // namespace kw
