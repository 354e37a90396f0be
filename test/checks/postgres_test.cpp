// Unit tests of the postgres check's logic: error classification, conninfo scrubbing,
// reply interpretation and the kept connection, over a fake connector.
#include "checks/postgres.h"

#include <doctest/doctest.h>

#include <deque>

#include "agent/config.h"

using namespace kw;

namespace {

struct FakeLog {
  int made = 0;
  int queries = 0;
  std::deque<PgReply> replies;
};

class FakeConnection final : public PgConnection {
 public:
  explicit FakeConnection(FakeLog* log) : log_(log) {}
  PgReply QueryRow(const std::string& sql, TimePoint) override {
    CHECK(sql == kPostgresProbeSql);
    ++log_->queries;
    REQUIRE(!log_->replies.empty());
    PgReply r = log_->replies.front();
    log_->replies.pop_front();
    return r;
  }

 private:
  FakeLog* log_;
};

class FakeConnector final : public PgConnector {
 public:
  explicit FakeConnector(FakeLog* log) : log_(log) {}
  std::unique_ptr<PgConnection> Make(const std::string&) const override {
    ++log_->made;
    return std::make_unique<FakeConnection>(log_);
  }

 private:
  FakeLog* log_;
};

PgReply Row(PgRow row) {
  PgReply r;
  r.row = std::move(row);
  return r;
}

PgRow PrimaryRow() {
  return {{"in_recovery", "f"},
          {"server_version_num", "150010"},
          {"transaction_read_only", "off"},
          {"default_transaction_read_only", "off"},
          {"current_lsn", "50331840"},
          {"primary_timeline", "2"},
          {"checkpoint_timeline", "1"},
          {"replicas", "1"},
          {"replicas_streaming", "1"},
          {"replicas_sync", "0"},
          {"min_replay_lsn", "50331648"},
          {"replication", "node2 streaming async"}};
}

PgRow ReplicaRow() {
  return {{"in_recovery", "t"},
          {"server_version_num", "110022"},
          {"transaction_read_only", "on"},
          {"default_transaction_read_only", "off"},
          {"replay_paused", "f"},
          {"received_lsn", "83886080"},
          {"replayed_lsn", "48234496"},
          {"replay_age", "12.5"},
          {"checkpoint_timeline", "1"},
          {"wal_receiver_status", "streaming"},
          {"received_tli", "3"},
          {"latest_end_lsn", "83886080"},
          {"sender_host", "127.0.0.1"},
          {"sender_port", "5432"},
          {"replicas", "0"},
          {"replicas_streaming", "0"},
          {"replicas_sync", "0"}};
}

double Val(const CheckResult& r, const std::string& k) {
  const double* v = r.FindValue(k);
  REQUIRE_MESSAGE(v, "missing value " << k);
  return *v;
}

std::string Lab(const CheckResult& r, const std::string& k) {
  const std::string* v = r.FindLabel(k);
  return v ? *v : "(absent)";
}

}  // namespace

TEST_CASE("postgres: libpq errors are classified into distinct reasons") {
  CHECK(ClassifyPgError("",
                        "connection to server at \"127.0.0.1\", port 1 failed: Connection "
                        "refused\n\tIs the server running on that host?",
                        false) == PgFailure::kRefused);
  CHECK(ClassifyPgError("",
                        "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: No "
                        "such file or directory",
                        false) == PgFailure::kRefused);
  CHECK(ClassifyPgError("", "FATAL:  password authentication failed for user \"kw\"", false) ==
        PgFailure::kAuth);
  CHECK(ClassifyPgError("", "fe_sendauth: no password supplied", false) == PgFailure::kAuth);
  CHECK(ClassifyPgError("", "FATAL:  no pg_hba.conf entry for host", false) == PgFailure::kAuth);
  CHECK(ClassifyPgError("", "FATAL:  role \"nobody\" does not exist", false) == PgFailure::kAuth);
  CHECK(ClassifyPgError("", "FATAL:  the database system is starting up", false) ==
        PgFailure::kStartingUp);
  CHECK(ClassifyPgError("", "FATAL:  the database system is not yet accepting connections",
                        false) == PgFailure::kStartingUp);
  CHECK(ClassifyPgError("",
                        "FATAL:  the database system is not accepting connections\nDETAIL:  "
                        "Hot standby mode is disabled.",
                        false) == PgFailure::kStartingUp);
  CHECK(ClassifyPgError("", "FATAL:  the database system is shutting down", false) ==
        PgFailure::kShuttingDown);
  CHECK(ClassifyPgError("", "FATAL:  the database system is in recovery mode", false) ==
        PgFailure::kRecovery);
  CHECK(ClassifyPgError("53300", "FATAL:  sorry, too many clients already", false) ==
        PgFailure::kTooMany);
  CHECK(ClassifyPgError("", "could not translate host name", false) == PgFailure::kOther);
  // On an established connection.
  CHECK(ClassifyPgError("", "server closed the connection unexpectedly", true) ==
        PgFailure::kBroken);
  CHECK(ClassifyPgError("57P01", "FATAL:  terminating connection due to administrator command",
                        true) == PgFailure::kBroken);
  CHECK(ClassifyPgError("42883", "ERROR:  function pg_nope() does not exist", true) ==
        PgFailure::kQuery);
  CHECK(std::string(PgFailureName(PgFailure::kAuth)) == "auth_failed");
  CHECK(std::string(PgFailureName(PgFailure::kHung)) == "hung");
}

TEST_CASE("postgres: conninfo is shown without its password") {
  std::string s = ScrubConninfo("host=127.0.0.1 port=5432 user=kw password=s3cret dbname=postgres");
  CHECK(s == "user=kw dbname=postgres host=127.0.0.1 port=5432");
  std::string uri = ScrubConninfo("postgresql://kw:t0psecret@127.0.0.1:5433/postgres");
  CHECK(uri.find("t0psecret") == std::string::npos);
  CHECK(uri.find("port=5433") != std::string::npos);
  CHECK(ScrubConninfo("host='/var/run/postgresql' application_name='my app'") ==
        "host=/var/run/postgresql application_name='my app'");
  CHECK(ScrubConninfo("host=x password") == "(unparsable conninfo)");
  CHECK(*ConninfoPassword("user=kw password='a b'") == "a b");
  CHECK(*ConninfoPassword("postgresql://kw:pw@h/db") == "pw");
  CHECK_FALSE(ConninfoPassword("user=kw").has_value());
  CHECK(ConninfoError("host=x password").has_value());
  CHECK_FALSE(ConninfoError("host=x").has_value());
  CHECK(OneLine("FATAL:  password pw1 failed\n\tDETAIL: pw1 again\n", std::string("pw1")) ==
        "FATAL:  password *** failed; DETAIL: *** again");
}

TEST_CASE("postgres: a primary's reply") {
  CheckResult r = InterpretPostgresReply(Row(PrimaryRow()), PostgresOptions{}, 0.002);
  CHECK(r.outcome == Outcome::kPass);
  CHECK(Lab(r, "role") == "primary");
  CHECK(Lab(r, "replication") == "node2 streaming async");
  CHECK(Val(r, "in_recovery") == 0);
  CHECK(Val(r, "writable") == 1);
  CHECK(Val(r, "read_only") == 0);
  CHECK(Val(r, "timeline") == 2);  // from the WAL file being written, not the checkpoint
  CHECK(Val(r, "current_lsn") == 50331840);
  CHECK(Val(r, "replicas") == 1);
  CHECK(Val(r, "replicas_streaming") == 1);
  CHECK(Val(r, "replica_max_lag_bytes") == 192);
  CHECK(Val(r, "server_version_num") == 150010);
  CHECK(Val(r, "max_lag_bytes") == 16 << 20);
  CHECK(r.detail == "primary, writable, timeline 2, 1 of 1 replicas streaming");

  PgRow ro = PrimaryRow();
  ro["default_transaction_read_only"] = "on";
  ro["transaction_read_only"] = "on";
  CheckResult r2 = InterpretPostgresReply(Row(ro), PostgresOptions{}, 0);
  CHECK(r2.outcome == Outcome::kPass);
  CHECK(Val(r2, "writable") == 0);
  CHECK(Val(r2, "read_only") == 1);
  CHECK(r2.detail.starts_with("primary, read-only"));
}

TEST_CASE("postgres: a replica's reply: lag in bytes and seconds") {
  PostgresOptions o;
  o.max_lag = 1 << 20;
  CheckResult r = InterpretPostgresReply(Row(ReplicaRow()), o, 0);
  CHECK(r.outcome == Outcome::kPass);
  CHECK(Lab(r, "role") == "replica");
  CHECK(Lab(r, "wal_receiver") == "streaming");
  CHECK(Lab(r, "sender") == "127.0.0.1:5432");
  CHECK(Val(r, "in_recovery") == 1);
  CHECK(Val(r, "writable") == 0);
  CHECK(Val(r, "timeline") == 3);
  CHECK(Val(r, "lag_bytes") == 83886080 - 48234496);
  CHECK(Val(r, "lag_seconds") == 12.5);
  CHECK(Val(r, "max_lag_bytes") == 1 << 20);
  CHECK(r.detail == "replica, streaming from 127.0.0.1:5432, timeline 3, lag 34 MB / 12.5s");

  // Caught up: the last replayed transaction may be old, but nothing is left to replay.
  PgRow caught = ReplicaRow();
  caught["replayed_lsn"] = "83886080";
  CheckResult c = InterpretPostgresReply(Row(caught), o, 0);
  CHECK(Val(c, "lag_bytes") == 0);
  CHECK(Val(c, "lag_seconds") == 0);
  CHECK(Val(c, "replay_age_seconds") == 12.5);

  // The WAL sender reported a further end of WAL than what was received so far.
  PgRow behind = ReplicaRow();
  behind["latest_end_lsn"] = "90000000";
  CHECK(Val(InterpretPostgresReply(Row(behind), o, 0), "lag_bytes") == 90000000 - 48234496);

  // Behind, but no transaction replayed since start-up: the age is unknown, not zero.
  PgRow unknown = ReplicaRow();
  unknown.erase("replay_age");
  CheckResult u = InterpretPostgresReply(Row(unknown), o, 0);
  CHECK(u.FindValue("lag_seconds") == nullptr);
  CHECK(u.detail == "replica, streaming from 127.0.0.1:5432, timeline 3, lag 34 MB");

  // No WAL receiver (primary gone, archive recovery): still a replica, not streaming.
  PgRow alone = ReplicaRow();
  for (const char* k :
       {"wal_receiver_status", "received_tli", "latest_end_lsn", "sender_host", "sender_port"})
    alone.erase(k);
  alone["replay_paused"] = "t";
  CheckResult a = InterpretPostgresReply(Row(alone), o, 0);
  CHECK(a.outcome == Outcome::kPass);
  CHECK(Lab(a, "wal_receiver") == "none");
  CHECK(Val(a, "timeline") == 1);  // the last restartpoint's
  CHECK(Val(a, "replay_paused") == 1);
  CHECK(a.detail.find("no WAL receiver") != std::string::npos);
  CHECK(a.detail.find("replay paused") != std::string::npos);
}

TEST_CASE("postgres: failures keep their reason and outcome") {
  auto fail = [](PgFailure f, const char* msg) {
    PgReply r;
    r.failure = f;
    r.message = msg;
    return InterpretPostgresReply(r, PostgresOptions{}, 1.0);
  };
  CheckResult refused = fail(PgFailure::kRefused, "Connection refused");
  CHECK(refused.outcome == Outcome::kFail);
  CHECK(refused.detail == "refused: Connection refused");
  CHECK(Lab(refused, "failure") == "refused");
  CHECK(Lab(refused, "role") == "(absent)");
  CHECK(fail(PgFailure::kHung, "no answer").outcome == Outcome::kTimeout);
  CHECK(fail(PgFailure::kTimeout, "timed out connecting").outcome == Outcome::kTimeout);
  CHECK(fail(PgFailure::kStartingUp, "starting").detail.starts_with("starting_up: "));
  CHECK(fail(PgFailure::kShuttingDown, "x").outcome == Outcome::kFail);
  CHECK(fail(PgFailure::kAuth, "x").outcome == Outcome::kFail);
  CHECK(fail(PgFailure::kQuery, "x").outcome == Outcome::kError);
  // A row without the recovery flag is not trusted as any role.
  CheckResult odd = InterpretPostgresReply(Row({{"server_version_num", "150000"}}), {}, 0);
  CHECK(odd.outcome == Outcome::kError);
  CHECK(Lab(odd, "role") == "(absent)");
}

TEST_CASE("postgres: the check keeps one connection and labels the scrubbed conninfo") {
  FakeLog log;
  PostgresOptions o;
  o.conninfo = "host=127.0.0.1 user=kw password=hunter2";
  auto check = NewPostgresCheck(o, std::make_unique<FakeConnector>(&log));
  log.replies = {Row(PrimaryRow()), Row(ReplicaRow())};
  CheckResult a = check->Run(SteadyClock::now() + seconds(1));
  CheckResult b = check->Run(SteadyClock::now() + seconds(1));
  CHECK(log.made == 1);
  CHECK(log.queries == 2);
  CHECK(Lab(a, "role") == "primary");
  CHECK(Lab(b, "role") == "replica");
  CHECK(Lab(b, "conninfo") == "user=kw host=127.0.0.1");
}

TEST_CASE("postgres: configuration keys") {
  auto build = [](const std::string& text, Diagnostics& diag) {
    Config cfg = LoadConfigText(text, diag);
    return BuildChecks(cfg, CheckEnv{}, diag);
  };
  {
    Diagnostics diag("t.ini");
    auto checks = build(
        "[check.pg]\ntype = postgres\nconninfo = host=127.0.0.1 port=5432\n"
        "max_lag = 1MB\n",
        diag);
    CHECK(diag.ok());
    CHECK(checks.size() == 1);
  }
  {
    Diagnostics diag("t.ini");
    auto checks = build("[check.pg]\ntype = postgres\nmax_lag = lots\n", diag);
    CHECK_FALSE(diag.ok());
    CHECK(checks.empty());
    std::string all;
    for (const auto& m : diag.messages()) all += m + "\n";
    CHECK(all.find("conninfo") != std::string::npos);
    CHECK(all.find("t.ini:3:") != std::string::npos);  // the bad max_lag, at its line
  }
  {
    Diagnostics diag("t.ini");
    auto checks = build("[check.pg]\ntype = postgres\nconninfo = host=x password\n", diag);
    CHECK_FALSE(diag.ok());
  }
  {
    Diagnostics diag("t.ini");
    auto checks = build("[check.pg]\ntype = postgres\nconninfo = host=x password=pw\n", diag);
    CHECK(diag.ok());
    REQUIRE(diag.messages().size() == 1);  // a warning about the inline password
    CHECK(diag.messages()[0].find("passfile") != std::string::npos);
    CHECK(diag.messages()[0].find("pw") == std::string::npos);
  }
}
