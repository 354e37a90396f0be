// The postgres check against real PostgreSQL 15 servers (test/support/pg_cluster.h):
// roles, LSNs, lag, promotion, stops, restarts, a frozen server and a wrong password.
#include <doctest/doctest.h>

#include <thread>

#include "checks/postgres.h"
#include "test/support/pg_cluster.h"

using namespace kw;
using namespace kw::test;

namespace {

std::unique_ptr<Check> CheckFor(const std::string& conninfo, uint64_t max_lag = 16ull << 20) {
  PostgresOptions o;
  o.conninfo = conninfo;
  o.max_lag = max_lag;
  return NewPostgresCheck(o, std::make_unique<LibpqConnector>());
}

double Val(const CheckResult& r, const std::string& k) {
  const double* v = r.FindValue(k);
  REQUIRE_MESSAGE(v, "missing value " << k << " in: " << r.detail);
  return *v;
}

std::string Lab(const CheckResult& r, const std::string& k) {
  const std::string* v = r.FindLabel(k);
  return v ? *v : "(absent)";
}

double Lsn(PgServer& s, const std::string& fn) {
  auto v = s.Sql("SELECT pg_wal_lsn_diff(" + fn + ", '0/0')");
  REQUIRE_MESSAGE(v.ok(), v.status().message());
  return std::stod(*v);
}

// Runs the check until pred(result) holds; at most `tries` probes, `pause` apart.
template <class Pred>
CheckResult RunUntil(Check& check, Pred pred, int tries = 100, Duration pause = milliseconds(100)) {
  CheckResult r;
  for (int i = 0; i < tries; ++i) {
    r = check.Run(SteadyClock::now() + seconds(2));
    if (pred(r)) return r;
    std::this_thread::sleep_for(pause);
  }
  return r;
}

}  // namespace

TEST_CASE("postgres live: roles, LSNs, lag in bytes and seconds, promotion") {
  auto started = PgCluster::Start();
  REQUIRE_MESSAGE(started.ok(), started.status().message());
  PgCluster& c = **started;
  auto on_primary = CheckFor(c.primary().Conninfo());
  auto on_replica = CheckFor(c.replica().Conninfo(), 1 << 20);

  // Roles and positions.
  CheckResult p = on_primary->Run(SteadyClock::now() + seconds(2));
  REQUIRE_MESSAGE(p.outcome == Outcome::kPass, p.detail);
  CHECK(Lab(p, "role") == "primary");
  CHECK(Val(p, "writable") == 1);
  CHECK(Val(p, "in_recovery") == 0);
  CHECK(Val(p, "timeline") == 1);
  CHECK(Val(p, "server_version_num") >= 150000);
  CHECK(Val(p, "replicas") == 1);
  CHECK(Val(p, "replicas_streaming") == 1);
  CHECK(Lab(p, "replication") == "replica streaming async");
  double before = Lsn(c.primary(), "pg_current_wal_lsn()");
  double after = Lsn(c.primary(), "pg_current_wal_lsn()");
  CHECK(Val(p, "current_lsn") >= before - 1024 * 1024);
  CHECK(Val(p, "current_lsn") <= after);
  CHECK(p.detail == "primary, writable, timeline 1, 1 of 1 replicas streaming");

  REQUIRE(c.WaitReplicaCaughtUp().ok());
  CheckResult r = on_replica->Run(SteadyClock::now() + seconds(2));
  REQUIRE_MESSAGE(r.outcome == Outcome::kPass, r.detail);
  CHECK(Lab(r, "role") == "replica");
  CHECK(Lab(r, "wal_receiver") == "streaming");
  CHECK(Lab(r, "sender") == "127.0.0.1:" + std::to_string(c.primary().port()));
  CHECK(Val(r, "writable") == 0);
  CHECK(Val(r, "read_only") == 1);
  CHECK(Val(r, "timeline") == 1);
  CHECK(Val(r, "replayed_lsn") >= before);
  CHECK(Val(r, "received_lsn") >= Val(r, "replayed_lsn"));
  CHECK(Val(r, "lag_bytes") == 0);
  CHECK(Val(r, "lag_seconds") == 0);
  CHECK(Val(r, "replay_paused") == 0);

  // Lag: a replayed transaction first (replay timestamps start with it), then replay
  // paused on the replica while the primary writes 4 MB of WAL.
  REQUIRE(c.primary().Sql("CREATE TABLE marker (t timestamptz DEFAULT now())").ok());
  REQUIRE(c.WaitReplicaCaughtUp().ok());
  REQUIRE(c.replica().Sql("SELECT pg_wal_replay_pause()").ok());
  REQUIRE(c.primary()
              .Sql("CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad "
                   "FROM generate_series(1, 16000) g")
              .ok());
  double target = Lsn(c.primary(), "pg_current_wal_lsn()");
  std::this_thread::sleep_for(milliseconds(1100));  // a measurable replay age
  CheckResult lagging = RunUntil(*on_replica, [&](const CheckResult& x) {
    const double* rec = x.FindValue("received_lsn");
    return x.outcome == Outcome::kPass && rec && *rec >= target;
  });
  REQUIRE_MESSAGE(lagging.outcome == Outcome::kPass, lagging.detail);
  CHECK(Val(lagging, "replay_paused") == 1);
  CHECK(Val(lagging, "lag_bytes") > 2 * 1024 * 1024);
  CHECK(Val(lagging, "lag_bytes") == Val(lagging, "received_lsn") - Val(lagging, "replayed_lsn"));
  CHECK(Val(lagging, "lag_seconds") >= 1.0);
  CHECK(Val(lagging, "lag_seconds") < 60.0);
  CHECK(lagging.detail.find("replay paused") != std::string::npos);
  MESSAGE("paused replica: " << lagging.detail);
  CheckResult pp = on_primary->Run(SteadyClock::now() + seconds(2));
  CHECK(Val(pp, "replica_max_lag_bytes") > 2 * 1024 * 1024);

  REQUIRE(c.replica().Sql("SELECT pg_wal_replay_resume()").ok());
  CheckResult resumed = RunUntil(*on_replica, [](const CheckResult& x) {
    const double* lag = x.FindValue("lag_bytes");
    return lag && *lag == 0;
  });
  CHECK(Val(resumed, "lag_bytes") == 0);
  CHECK(Val(resumed, "lag_seconds") == 0);
  CHECK(Val(resumed, "replayed_lsn") >= target);

  // Promotion: the replica becomes a writable primary on timeline 2 at once.
  REQUIRE(c.replica().Sql("SELECT pg_promote(true, 30)").ok());
  CheckResult promoted = on_replica->Run(SteadyClock::now() + seconds(2));
  REQUIRE_MESSAGE(promoted.outcome == Outcome::kPass, promoted.detail);
  CHECK(Lab(promoted, "role") == "primary");
  CHECK(Val(promoted, "writable") == 1);
  CHECK(Val(promoted, "timeline") == 2);
  // The old primary still says primary (nothing fences it yet), with its replica gone.
  CheckResult old = RunUntil(*on_primary, [](const CheckResult& x) {
    const double* n = x.FindValue("replicas");
    return n && *n == 0;
  });
  CHECK(Lab(old, "role") == "primary");
  CHECK(Val(old, "replicas") == 0);
}
