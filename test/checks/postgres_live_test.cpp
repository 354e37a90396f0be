// The postgres check against real PostgreSQL 15 servers (test/support/pg_cluster.h):
// roles, LSNs, lag, promotion, stops, restarts, a frozen server and a wrong password.
#include <doctest/doctest.h>

#include <thread>

#include "checks/postgres.h"
#include "test/support/pg_cluster.h"

using namespace kw;
using namespace kw::test;

namespace {

std::unique_ptr<Check> CheckFor(const std::string& conninfo, uint64_t max_lag = 16ull << 20,
                                Duration max_age = seconds(60)) {
  PostgresOptions o;
  o.conninfo = conninfo;
  o.max_lag = max_lag;
  return NewPostgresCheck(o, std::make_unique<LibpqConnector>(max_age));
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
  // One kept connection, named for pg_stat_activity.
  for (int i = 0; i < 3; ++i) on_primary->Run(SteadyClock::now() + seconds(2));
  CHECK(*c.primary().Sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'keepwatch' "
                         "AND application_name = 'keepwatch'") == "1");

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

  // A standby that does not accept connections (hot_standby = off: the state of a
  // replica recovering from archive before consistency) is reported as such.
  REQUIRE(c.replica().Sql("ALTER SYSTEM SET hot_standby = off").ok());
  REQUIRE(c.replica().Stop("fast").ok());
  REQUIRE(c.replica().Start().ok());
  CheckResult cold = on_replica->Run(SteadyClock::now() + seconds(2));
  CHECK(cold.outcome == Outcome::kFail);
  CHECK_MESSAGE(Lab(cold, "failure") == "starting_up", cold.detail);
  CHECK(cold.detail.find("Hot standby mode is disabled") != std::string::npos);
  REQUIRE(c.replica().Stop("fast").ok());
  REQUIRE(RunCommand({"sed", "-i", "/hot_standby/d",
                      c.replica().data_dir() + "/postgresql.auto.conf"}) == 0);
  REQUIRE(c.replica().Start().ok());
  REQUIRE(c.WaitReplicaCaughtUp().ok());
  CHECK(on_replica->Run(SteadyClock::now() + seconds(2)).outcome == Outcome::kPass);

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

TEST_CASE("postgres live: stopped, restarted, shutting down, frozen, wrong password") {
  PgCluster::Options opts;
  opts.replica = false;
  auto started = PgCluster::Start(opts);
  REQUIRE_MESSAGE(started.ok(), started.status().message());
  PgServer& pg = (*started)->primary();
  auto check = CheckFor(pg.Conninfo());
  CheckResult up = check->Run(SteadyClock::now() + seconds(2));
  REQUIRE_MESSAGE(up.outcome == Outcome::kPass, up.detail);
  CHECK(Lab(up, "role") == "primary");

  SUBCASE("stopped fast, then started: the kept connection is re-made") {
    REQUIRE(pg.Stop("fast").ok());
    CheckResult down = check->Run(SteadyClock::now() + seconds(2));
    CHECK(down.outcome == Outcome::kFail);
    CHECK(Lab(down, "failure") == "refused");
    CHECK(down.detail.find("Connection refused") != std::string::npos);
    REQUIRE(pg.Start().ok());
    CheckResult back = check->Run(SteadyClock::now() + seconds(2));
    CHECK_MESSAGE(back.outcome == Outcome::kPass, back.detail);
    CHECK(Lab(back, "role") == "primary");
  }
  SUBCASE("stopped immediate, then crash recovery on start") {
    REQUIRE(pg.Stop("immediate").ok());
    CheckResult down = check->Run(SteadyClock::now() + seconds(2));
    CHECK(down.outcome == Outcome::kFail);
    CHECK(Lab(down, "failure") == "refused");
    REQUIRE(pg.Start().ok());
    CheckResult back =
        RunUntil(*check, [](const CheckResult& x) { return x.outcome == Outcome::kPass; });
    CHECK_MESSAGE(back.outcome == Outcome::kPass, back.detail);
    CHECK(Val(back, "writable") == 1);
  }
  SUBCASE("smart shutdown: new connections are told so, the agent does not hold it up") {
    // A check whose connection is re-made every second (the default is a minute).
    auto short_lived = CheckFor(pg.Conninfo(), 16ull << 20, seconds(1));
    REQUIRE(short_lived->Run(SteadyClock::now() + seconds(2)).outcome == Outcome::kPass);
    std::thread session([&] { (void)pg.Sql("SELECT pg_sleep(3)", seconds(10)); });
    std::this_thread::sleep_for(milliseconds(300));  // let the session start
    Status stop = pg.RequestStop("smart");
    CHECK_MESSAGE(stop.ok(), stop.message());
    check.reset();  // the default check's session would hold the shutdown for a minute
    CheckResult fresh = CheckFor(pg.Conninfo())->Run(SteadyClock::now() + seconds(2));
    CHECK(fresh.outcome == Outcome::kFail);
    CHECK_MESSAGE(Lab(fresh, "failure") == "shutting_down", fresh.detail);
    session.join();
    // Once its connection is a second old the check lets go; the server then stops.
    CheckResult gone = RunUntil(*short_lived, [](const CheckResult& x) {
      const std::string* f = x.FindLabel("failure");
      return f && *f == "refused";
    });
    CHECK_MESSAGE(Lab(gone, "failure") == "refused", gone.detail);
  }
  SUBCASE("frozen (SIGSTOP): the probe times out by its deadline, then recovers") {
    pg.Freeze();
    TimePoint t0 = SteadyClock::now();
    CheckResult hung = check->Run(t0 + milliseconds(800));
    double took = ToSeconds(SteadyClock::now() - t0);
    CHECK(hung.outcome == Outcome::kTimeout);
    CHECK_MESSAGE(Lab(hung, "failure") == "hung", hung.detail);
    CHECK(took >= 0.75);
    CHECK(took < 1.3);
    // The next probe must connect anew: the frozen postmaster accepts the TCP connection
    // (the kernel does) but never answers the startup packet.
    t0 = SteadyClock::now();
    CheckResult again = check->Run(t0 + milliseconds(800));
    took = ToSeconds(SteadyClock::now() - t0);
    CHECK(again.outcome == Outcome::kTimeout);
    CHECK_MESSAGE(Lab(again, "failure") == "timeout", again.detail);
    CHECK_MESSAGE(again.detail.find("did not answer the startup") != std::string::npos,
                  again.detail);
    CHECK(took < 1.3);
    pg.Thaw();
    CheckResult back =
        RunUntil(*check, [](const CheckResult& x) { return x.outcome == Outcome::kPass; });
    CHECK_MESSAGE(back.outcome == Outcome::kPass, back.detail);
  }
  SUBCASE("wrong password: a clear reason, and the password appears nowhere") {
    const std::string wrong = "Wr0ng-pa55word-XYZ";
    auto bad = CheckFor(pg.ConninfoWithPassword(wrong));
    CheckResult r = bad->Run(SteadyClock::now() + seconds(2));
    CHECK(r.outcome == Outcome::kFail);
    CHECK(Lab(r, "failure") == "auth_failed");
    CHECK_MESSAGE(r.detail.find("password authentication failed") != std::string::npos, r.detail);
    CHECK(r.detail.find(wrong) == std::string::npos);
    for (const auto& [k, v] : r.labels) CHECK_MESSAGE(v.find(wrong) == std::string::npos, k);
    CHECK(Lab(r, "conninfo").find("password") == std::string::npos);
    // Nor in the server's log (the check never sends it anywhere but the auth exchange).
    std::string log = pg.Log();
    CHECK(log.find("password authentication failed") != std::string::npos);
    CHECK(log.find(wrong) == std::string::npos);
  }
  SUBCASE("the agent's default gssencmode=disable gives way to the conninfo's") {
    // This libpq has GSSAPI and the server none: `require` cannot be met over TCP (Unix
    // sockets ignore gssencmode), so the failure shows the conninfo's value won.
    auto gss = CheckFor("host=127.0.0.1 port=" + std::to_string(pg.port()) +
                        " user=postgres dbname=postgres gssencmode=require");
    CheckResult r = gss->Run(SteadyClock::now() + seconds(2));
    CHECK_MESSAGE(r.outcome != Outcome::kPass, r.detail);
    CHECK_MESSAGE(r.detail.find("GSSAPI") != std::string::npos, r.detail);
  }
}
