#include "checks/postgres.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

#include "agent/units.h"

namespace kw {

// One round trip.  Notes on portability (11..17):
//  - pg_current_wal_lsn() and pg_walfile_name() raise errors during recovery, so they sit
//    behind CASE on the recovery flag; pg_is_wal_replay_paused() likewise outside it.
//  - pg_stat_wal_receiver was reshaped in 13 (received_lsn became flushed_lsn): only
//    columns present in every version are read.  sender_host/port exist since 11.
//  - min()/max() over pg_lsn only exist since 13: aggregate the numeric byte positions.
//  - The primary's timeline is the one of the WAL file being written (exact right after
//    a promotion); a replica's is the WAL receiver's, else the last restartpoint's.
const char kPostgresProbeSql[] = R"SQL(SELECT
  r.in_recovery,
  current_setting('server_version_num') AS server_version_num,
  current_setting('transaction_read_only') AS transaction_read_only,
  current_setting('default_transaction_read_only') AS default_transaction_read_only,
  CASE WHEN NOT r.in_recovery THEN pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END
    AS current_lsn,
  CASE WHEN NOT r.in_recovery
    THEN ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END
    AS primary_timeline,
  CASE WHEN r.in_recovery THEN pg_is_wal_replay_paused() END AS replay_paused,
  pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0') AS received_lsn,
  pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0') AS replayed_lsn,
  extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) AS replay_age,
  (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_timeline,
  w.status AS wal_receiver_status,
  w.received_tli,
  pg_wal_lsn_diff(w.latest_end_lsn, '0/0') AS latest_end_lsn,
  w.sender_host,
  w.sender_port,
  s.replicas,
  s.replicas_streaming,
  s.replicas_sync,
  s.min_replay_lsn,
  s.replication
FROM (SELECT pg_is_in_recovery() AS in_recovery) r
LEFT JOIN (SELECT status, received_tli, latest_end_lsn, sender_host, sender_port
           FROM pg_stat_wal_receiver LIMIT 1) w ON true
CROSS JOIN (SELECT count(*) AS replicas,
                   count(*) FILTER (WHERE state = 'streaming') AS replicas_streaming,
                   count(*) FILTER (WHERE sync_state IN ('sync', 'quorum')) AS replicas_sync,
                   min(pg_wal_lsn_diff(replay_lsn, '0/0')) AS min_replay_lsn,
                   string_agg(concat_ws(' ', coalesce(nullif(application_name, ''),
                                                      client_addr::text, 'local'),
                                        state, sync_state), ', '
                              ORDER BY application_name) AS replication
            FROM pg_stat_replication) s)SQL";

namespace {

std::optional<double> Num(const PgRow& row, const std::string& key) {
  auto it = row.find(key);
  if (it == row.end()) return std::nullopt;
  double v = 0;
  const std::string& s = it->second;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<bool> Flag(const PgRow& row, const std::string& key) {
  auto it = row.find(key);
  if (it == row.end()) return std::nullopt;
  const std::string& s = it->second;
  if (s == "t" || s == "on" || s == "true") return true;
  if (s == "f" || s == "off" || s == "false") return false;
  return std::nullopt;
}

std::string Text(const PgRow& row, const std::string& key) {
  auto it = row.find(key);
  return it == row.end() ? std::string() : it->second;
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

CheckResult InterpretFailure(const PgReply& reply) {
  std::string detail = std::string(PgFailureName(reply.failure)) + ": " + reply.message;
  CheckResult r;
  switch (reply.failure) {
    case PgFailure::kTimeout:
    case PgFailure::kHung:
      r = CheckResult::Timeout(detail);
      break;
    case PgFailure::kQuery:
    case PgFailure::kOther:
      r = CheckResult::Error(detail);
      break;
    default:
      r = CheckResult::Fail(detail);
  }
  return r.Label("failure", PgFailureName(reply.failure));
}

class PostgresCheck final : public Check {
 public:
  PostgresCheck(PostgresOptions options, std::unique_ptr<PgConnector> connector)
      : options_(std::move(options)),
        conninfo_scrubbed_(ScrubConninfo(options_.conninfo)),
        connector_(std::move(connector)) {}

  CheckResult Run(TimePoint deadline) override {
    if (!conn_) conn_ = connector_->Make(options_.conninfo);
    TimePoint start = SteadyClock::now();
    PgReply reply = conn_->QueryRow(kPostgresProbeSql, deadline);
    double took = ToSeconds(SteadyClock::now() - start);
    CheckResult r = InterpretPostgresReply(reply, options_, took);
    return r.Label("conninfo", conninfo_scrubbed_);
  }

 private:
  PostgresOptions options_;
  std::string conninfo_scrubbed_;
  std::unique_ptr<PgConnector> connector_;
  std::unique_ptr<PgConnection> conn_;  // keeps its libpq connection between probes
};

}  // namespace

CheckResult InterpretPostgresReply(const PgReply& reply, const PostgresOptions& options,
                                   double query_seconds) {
  if (!reply.ok())
    return InterpretFailure(reply)
        .Value("query_seconds", query_seconds)
        .Value("max_lag_bytes", static_cast<double>(options.max_lag));
  const PgRow& row = reply.row;
  std::optional<bool> recovery = Flag(row, "in_recovery");
  if (!recovery)
    return CheckResult::Error("query_error: the probe's row has no in_recovery")
        .Label("failure", PgFailureName(PgFailure::kQuery));
  bool read_only = Flag(row, "transaction_read_only").value_or(false) ||
                   Flag(row, "default_transaction_read_only").value_or(false);
  bool writable = !*recovery && !read_only;

  CheckResult r = CheckResult::Pass("");
  r.Value("in_recovery", *recovery ? 1 : 0)
      .Value("read_only", read_only ? 1 : 0)
      .Value("writable", writable ? 1 : 0);
  if (auto v = Num(row, "server_version_num")) r.Value("server_version_num", *v);
  std::optional<double> timeline =
      *recovery ? Num(row, "received_tli") : Num(row, "primary_timeline");
  if (!timeline) timeline = Num(row, "checkpoint_timeline");
  if (timeline) r.Value("timeline", *timeline);
  std::string tl =
      timeline ? ", timeline " + std::to_string(static_cast<long long>(*timeline)) : std::string();

  if (!*recovery) {
    double replicas = Num(row, "replicas").value_or(0);
    double streaming = Num(row, "replicas_streaming").value_or(0);
    r.Label("role", "primary");
    std::optional<double> current = Num(row, "current_lsn");
    if (current) r.Value("current_lsn", *current);
    r.Value("replicas", replicas)
        .Value("replicas_streaming", streaming)
        .Value("replicas_sync", Num(row, "replicas_sync").value_or(0));
    std::optional<double> min_replay = Num(row, "min_replay_lsn");
    if (current && min_replay) r.Value("replica_max_lag_bytes", *current - *min_replay);
    std::string replication = Text(row, "replication");
    if (!replication.empty()) r.Label("replication", replication);
    char counts[64];
    std::snprintf(counts, sizeof counts, ", %.0f of %.0f replicas streaming", streaming, replicas);
    r.detail = std::string("primary, ") + (writable ? "writable" : "read-only") + tl + counts;
  } else {
    std::string status = Text(row, "wal_receiver_status");
    r.Label("role", "replica").Label("wal_receiver", status.empty() ? "none" : status);
    std::string host = Text(row, "sender_host");
    if (!host.empty()) r.Label("sender", host + ":" + Text(row, "sender_port"));
    std::optional<double> received = Num(row, "received_lsn");
    std::optional<double> replayed = Num(row, "replayed_lsn");
    std::optional<double> latest_end = Num(row, "latest_end_lsn");
    if (received) r.Value("received_lsn", *received);
    if (replayed) r.Value("replayed_lsn", *replayed);
    if (latest_end) r.Value("latest_end_lsn", *latest_end);
    // Until gossip brings the primary's own position, the furthest position this
    // replica knows the primary had reached stands in for it: what it received, or what
    // the WAL sender last reported as its end of WAL.
    double known_end = std::max(received.value_or(0), latest_end.value_or(0));
    double lag_bytes = replayed ? std::max(0.0, known_end - *replayed) : 0;
    std::optional<double> age = Num(row, "replay_age");
    // The age of the last replayed transaction grows on an idle primary too; it is lag
    // only while there is WAL left to replay.
    // Without a replayed transaction since start-up the age is unknown: then no
    // lag_seconds at all rather than a made-up zero.
    std::optional<double> lag_seconds;
    if (lag_bytes == 0)
      lag_seconds = 0;
    else if (age)
      lag_seconds = std::max(0.0, *age);
    r.Value("lag_bytes", lag_bytes);
    if (lag_seconds) r.Value("lag_seconds", *lag_seconds);
    if (age) r.Value("replay_age_seconds", *age);
    bool paused = Flag(row, "replay_paused").value_or(false);
    r.Value("replay_paused", paused ? 1 : 0);
    r.detail = "replica, " + (status.empty() ? std::string("no WAL receiver") : status) +
               (host.empty() ? "" : " from " + host + ":" + Text(row, "sender_port")) + tl +
               ", lag " + FormatSize(static_cast<uint64_t>(lag_bytes)) +
               (lag_bytes > 0 && lag_seconds ? " / " + Seconds(*lag_seconds) : "") +
               (paused ? ", replay paused" : "");
  }
  r.Value("max_lag_bytes", static_cast<double>(options.max_lag))
      .Value("query_seconds", query_seconds);
  return r;
}

std::unique_ptr<Check> NewPostgresCheck(PostgresOptions options,
                                        std::unique_ptr<PgConnector> connector) {
  return std::make_unique<PostgresCheck>(std::move(options), std::move(connector));
}

std::unique_ptr<Check> MakePostgresCheck(KeyReader& keys, const CheckEnv&) {
  PostgresOptions o;
  o.conninfo = keys.RequiredString("conninfo");
  o.max_lag = keys.Size("max_lag", o.max_lag);
  if (o.conninfo.empty()) return nullptr;
  if (auto err = ConninfoError(o.conninfo)) {
    keys.Error("conninfo", *err);
    return nullptr;
  }
  if (ConninfoPassword(o.conninfo))
    keys.Warning("conninfo", "carries a password; prefer passfile= or ~/.pgpass");
  return NewPostgresCheck(std::move(o), std::make_unique<LibpqConnector>());
}

}  // namespace kw
