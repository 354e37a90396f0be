// The failover's PostgreSQL actions against a real primary and replica.
#include "agent/failover/pg_actuator.h"

#include <doctest/doctest.h>

#include <fstream>

#include "agent/failover/pg_control.h"
#include "agent/failover/pg_layout.h"
#include "test/support/memory_logger.h"
#include "test/support/pg_cluster.h"

using namespace kw;
using namespace kw::test;

namespace {

std::string Superuser(const PgServer& s) {
  return "host=127.0.0.1 port=" + std::to_string(s.port()) + " user=postgres dbname=postgres";
}

PgActuatorConfig Cfg(const std::string& conninfo, const std::string& promote_command,
                     FenceMode fence, const std::string& fence_command) {
  PgActuatorConfig cfg;
  cfg.conninfo = conninfo;
  cfg.promote_command = promote_command;
  cfg.fence = fence;
  cfg.fence_command = fence_command;
  return cfg;
}

TimePoint In(Duration d) { return SteadyClock::now() + d; }

HostPort At(const PgServer& s) { return HostPort{"127.0.0.1", static_cast<uint16_t>(s.port())}; }

// The production set-up: the check's role (keepwatch, pg_monitor) with the fence's
// grants; pg_rewind reaches the new primary as postgres (rejoin_conninfo).
PgActuatorConfig Production(const PgServer& s, FenceMode fence) {
  PgActuatorConfig cfg;
  cfg.conninfo = s.Conninfo();
  cfg.fence = fence;
  cfg.rejoin_conninfo = "user=postgres dbname=postgres";
  return cfg;
}

// Whether `sql` on `s` answers `want` (a failure is "no").
bool Answers(const PgServer& s, const std::string& sql, const std::string& want) {
  auto r = s.Sql(sql);
  return r.ok() && *r == want;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// `s` is a hot standby whose WAL receiver streams from `from`.
void CheckFollows(const PgServer& s, const PgServer& from) {
  CHECK(*s.Sql("SELECT pg_is_in_recovery()") == "t");
  CHECK(*s.Sql("SELECT status || ' ' || sender_host || ':' || sender_port "
               "FROM pg_stat_wal_receiver") ==
        "streaming 127.0.0.1:" + std::to_string(from.port()));
  // Exactly one primary_conninfo is left, pointing at `from`.
  std::string conf = ReadFile(s.data_dir() + "/postgresql.auto.conf");
  CHECK(Count(conf, "primary_conninfo") == 1);
  CHECK(Count(conf, "default_transaction_read_only") == 0);
  CHECK(conf.find("port=" + std::to_string(from.port())) != std::string::npos);
}

}  // namespace

TEST_CASE("pg actuator: fence read-only cuts sessions, unfence restores, promote the replica") {
  auto started = PgCluster::Start();
  REQUIRE(started.ok());
  PgCluster& c = **started;
  LibpqConnector connector;
  MemoryLogger log;
  auto primary =
      MakePgActuator(Cfg(Superuser(c.primary()), "", FenceMode::kReadonly, ""), connector, log);
  // A client session that is open when the fence comes down.
  Process held({"runuser", "-u", "postgres", "--", "psql", "-h", "127.0.0.1", "-p",
                std::to_string(c.primary().port()), "-d", "postgres", "-c", "SELECT pg_sleep(30)"});
  REQUIRE(WaitFor(
      [&] {
        auto n = c.primary().Sql(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'");
        return n.ok() && *n == "1";
      },
      seconds(10)));
  REQUIRE(primary->Fence(SteadyClock::now() + seconds(10)).ok());
  CHECK(held.Wait(seconds(5)) != -1);  // its session was terminated
  CHECK(*c.primary().Sql("SHOW default_transaction_read_only") == "on");
  auto write = c.primary().Sql("CREATE TABLE fenced (x int)");
  REQUIRE_FALSE(write.ok());
  CHECK(write.status().message().find("read-only transaction") != std::string::npos);
  REQUIRE(primary->Unfence(SteadyClock::now() + seconds(10)).ok());
  CHECK(*c.primary().Sql("SHOW default_transaction_read_only") == "off");
  CHECK(c.primary().Sql("CREATE TABLE unfenced (x int)").ok());

  auto replica =
      MakePgActuator(Cfg(Superuser(c.replica()), "", FenceMode::kReadonly, ""), connector, log);
  REQUIRE(*c.replica().Sql("SELECT pg_is_in_recovery()") == "t");
  Status p = replica->Promote(SteadyClock::now() + seconds(30));
  INFO(p.message());
  REQUIRE(p.ok());
  CHECK(*c.replica().Sql("SELECT pg_is_in_recovery()") == "f");
}

TEST_CASE("pg actuator: commands run with a deadline and say how they failed") {
  CHECK(RunShell("true", SteadyClock::now() + seconds(5)).ok());
  Status f =
      RunShell("echo first; echo 'no such cluster' >&2; exit 3", SteadyClock::now() + seconds(5));
  CHECK(f.message() ==
        "'echo first; echo 'no such cluster' >&2; exit 3' exited with 3 (first / no such cluster)");
  TimePoint t0 = SteadyClock::now();
  Status slow = RunShell("sleep 30", SteadyClock::now() + milliseconds(300));
  CHECK(SteadyClock::now() - t0 < seconds(3));
  CHECK(slow.message() == "'sleep 30' did not finish in time; killed");
  LibpqConnector connector;
  MemoryLogger log;
  auto cmd = MakePgActuator(Cfg("host=127.0.0.1 port=1", "exit 4", FenceMode::kCommand, "exit 5"),
                            connector, log);
  CHECK(cmd->Promote(SteadyClock::now() + seconds(5)).message() == "'exit 4' exited with 4");
  CHECK(cmd->Fence(SteadyClock::now() + seconds(5)).message() == "'exit 5' exited with 5");
  CHECK(cmd->Unfence(SteadyClock::now() + seconds(5)).ok());
}

TEST_CASE("pg actuator: rejoin_command runs instead of pg_rewind, told the new primary") {
  TempDir dir;
  LibpqConnector connector;
  MemoryLogger log;
  PgActuatorConfig cfg;
  cfg.conninfo = "host=127.0.0.1 port=1";
  cfg.rejoin_command = "echo \"$KEEPWATCH_PRIMARY_HOST $KEEPWATCH_PRIMARY_PORT\" > " + dir.path() +
                       "/primary; echo 'rewound' >&2";
  auto act = MakePgActuator(cfg, connector, log);
  Status s = act->Rejoin(HostPort{"10.1.2.3", 5433}, In(seconds(5)));
  INFO(s.message());
  CHECK(s.ok());
  CHECK(ReadFile(dir.path() + "/primary") == "10.1.2.3 5433\n");
  cfg.rejoin_command = "echo \"no route to $KEEPWATCH_PRIMARY_HOST\" >&2; exit 2";
  CHECK(MakePgActuator(cfg, connector, log)
            ->Rejoin(HostPort{"10.1.2.3", 5433}, In(seconds(5)))
            .message() ==
        "rejoin: '" + cfg.rejoin_command + "' exited with 2 (no route to 10.1.2.3)");
}

TEST_CASE("pg actuator: the source conninfo is the base's keywords with the new primary") {
  auto s = SourceConninfo("host=/run/postgresql port=5432 user=rewind sslmode=require",
                          HostPort{"10.0.0.2", 5433});
  REQUIRE(s.ok());
  CHECK(*s == "user='rewind' sslmode='require' host='10.0.0.2' port=5433");
  auto uri = SourceConninfo("postgresql://kw:it's@db1:6000/postgres", HostPort{"db2", 5432});
  REQUIRE(uri.ok());
  CHECK(*uri == "user='kw' password='it\\'s' dbname='postgres' host='db2' port=5432");
  CHECK(*SourceConninfo("postgresql://kw:it's@db1:6000/postgres", HostPort{"db2", 5432}, false) ==
        "user='kw' dbname='postgres' host='db2' port=5432");
  CHECK(SourceConninfo("user='unterminated", HostPort{"db2", 5432})
            .status()
            .message()
            .find("cannot parse the conninfo for the new primary") == 0);
}

TEST_CASE("pg actuator: rejoin rewinds a diverged old primary, then one that crashed") {
  PgCluster::Options options;
  options.extra_settings = {"wal_log_hints = on", "full_page_writes = on"};
  auto started = PgCluster::Start(options);
  REQUIRE(started.ok());
  PgCluster& c = **started;
  PgServer& a = c.primary();
  PgServer& b = c.replica();
  REQUIRE(a.Sql("GRANT pg_signal_backend TO keepwatch; "
                "GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO keepwatch; "
                "GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO keepwatch; "
                "GRANT EXECUTE ON FUNCTION pg_reload_conf() TO keepwatch; "
                "CREATE TABLE t (x text); INSERT INTO t VALUES ('before')")
              .ok());
  // The first rejoin reaches the new primary as a role with exactly the rights
  // PostgreSQL's pg_rewind page lists (and REPLICATION), by password.
  REQUIRE(a.Sql("CREATE ROLE rewinder LOGIN REPLICATION PASSWORD 'rw-s3cret'; "
                "GRANT EXECUTE ON FUNCTION pg_ls_dir(text, boolean, boolean) TO rewinder; "
                "GRANT EXECUTE ON FUNCTION pg_stat_file(text, boolean) TO rewinder; "
                "GRANT EXECUTE ON FUNCTION pg_read_binary_file(text) TO rewinder; "
                "GRANT EXECUTE ON FUNCTION pg_read_binary_file(text, bigint, bigint, boolean) "
                "TO rewinder; GRANT pg_checkpoint TO rewinder")
              .ok());
  for (PgServer* s : {&a, &b}) {
    std::string hba = ReadFile(s->data_dir() + "/pg_hba.conf");
    std::ofstream(s->data_dir() + "/pg_hba.conf", std::ios::trunc)
        << "host all rewinder 127.0.0.1/32 scram-sha-256\n"
           "host replication rewinder 127.0.0.1/32 scram-sha-256\n"
        << hba;
    REQUIRE(s->Sql("SELECT pg_reload_conf()").ok());
  }
  REQUIRE(c.WaitReplicaCaughtUp().ok());
  LibpqConnector connector;
  MemoryLogger log;
  PgActuatorConfig rewinder = Production(a, FenceMode::kReadonly);
  rewinder.rejoin_conninfo = "user=rewinder password=rw-s3cret dbname=postgres";
  auto act_a = MakePgActuator(rewinder, connector, log);
  auto act_b = MakePgActuator(Production(b, FenceMode::kReadonly), connector, log);

  // Refused before anything is touched: a past deadline, a source that is not a primary,
  // one that does not answer, a role without pg_rewind's rights.
  CHECK(act_a->Rejoin(At(b), In(-seconds(1))).message() ==
        "rejoin: the deadline has already passed");
  CHECK(act_a->Rejoin(At(b), In(seconds(20))).message() ==
        "rejoin: the new primary 127.0.0.1:" + std::to_string(b.port()) +
            " is in recovery, not a primary");
  HostPort nobody{"127.0.0.1", FreePort()};
  std::string refused = act_a->Rejoin(nobody, In(seconds(20))).message();
  CHECK(refused.find("rejoin: the new primary " + nobody.ToString() + ": ") == 0);
  CHECK(refused.find("refused") != std::string::npos);
  CHECK(*a.Sql("SELECT pg_is_in_recovery()") == "f");

  // The replica is promoted; the old primary takes writes a little longer, then is fenced.
  Status promoted = act_b->Promote(In(seconds(30)));
  INFO(promoted.message());
  REQUIRE(promoted.ok());
  REQUIRE(a.Sql("INSERT INTO t VALUES ('diverged')").ok());
  Status fenced = act_a->Fence(In(seconds(10)));
  INFO(fenced.message());
  REQUIRE(fenced.ok());
  PgActuatorConfig weak = Production(a, FenceMode::kReadonly);
  weak.rejoin_conninfo = "";  // the check's own role: pg_monitor only
  std::string weak_says =
      MakePgActuator(weak, connector, log)->Rejoin(At(b), In(seconds(20))).message();
  CHECK(weak_says.find("role keepwatch may not run pg_ls_dir") != std::string::npos);

  Status rejoined = act_a->Rejoin(At(b), In(seconds(60)));
  INFO(rejoined.message());
  REQUIRE(rejoined.ok());
  CheckFollows(a, b);
  // It streams as the rewind role; libpq took the password from pg_rewind's environment.
  CHECK(ReadFile(a.data_dir() + "/postgresql.auto.conf").find("user=rewinder") !=
        std::string::npos);
  pid_t follower = a.PostmasterPid();
  CHECK(act_a->Rejoin(At(b), In(seconds(20))).ok());  // a second time: nothing to do
  CHECK(a.PostmasterPid() == follower);
  REQUIRE(b.Sql("INSERT INTO t VALUES ('after')").ok());
  CHECK(WaitFor([&] { return Answers(a, "SELECT count(*) FROM t WHERE x = 'after'", "1"); },
                seconds(10)));
  CHECK(*a.Sql("SELECT string_agg(x, ',' ORDER BY x) FROM t") == "after,before");

  // Back the other way after a crash: a is promoted, b takes a write and is killed.
  REQUIRE(act_a->Promote(In(seconds(30))).ok());
  REQUIRE(b.Sql("INSERT INTO t VALUES ('lost in the crash')").ok());
  REQUIRE(b.Kill().ok());
  std::string control;
  REQUIRE(RunCommand({"/usr/lib/postgresql/15/bin/pg_controldata", b.data_dir()}, &control) == 0);
  CHECK(control.find("Database cluster state:               in production") !=
        std::string::npos);  // a crash: crash recovery is due before pg_rewind
  Status crashed = act_b->Rejoin(At(a), In(seconds(60)));
  INFO(crashed.message());
  REQUIRE(crashed.ok());
  CheckFollows(b, a);
  REQUIRE(a.Sql("INSERT INTO t VALUES ('later')").ok());
  CHECK(WaitFor([&] { return Answers(b, "SELECT count(*) FROM t WHERE x = 'later'", "1"); },
                seconds(10)));
  CHECK(*b.Sql("SELECT string_agg(x, ',' ORDER BY x) FROM t") == "after,before,later");

  // fence = stop: a running primary is stopped; a stopped one is already fenced, also for
  // an agent that has not seen it up.  The layout learned on the way is saved.
  TempDir state_a;
  PgActuatorConfig stop_cfg = Production(a, FenceMode::kStop);
  stop_cfg.state_dir = state_a.path();
  auto stop_a = MakePgActuator(stop_cfg, connector, log);
  Status stopped = stop_a->Fence(In(seconds(30)));
  INFO(stopped.message());
  CHECK(stopped.ok());
  CHECK(a.PostmasterPid() == 0);
  CHECK(stop_a->Fence(In(seconds(10))).ok());
  CHECK(
      MakePgActuator(Production(a, FenceMode::kStop), connector, log)->Fence(In(seconds(10))).ok());
  auto saved = LoadPgLayout(state_a.path());
  REQUIRE(saved.ok());
  REQUIRE(saved->has_value());
  CHECK((*saved)->data_directory == a.data_dir());
  CHECK((*saved)->config_file == a.data_dir() + "/postgresql.conf");

  // An agent started while PostgreSQL is down: without the saved layout it cannot rejoin
  // the stopped a to b (promoted now); with it, it does.
  REQUIRE(act_b->Promote(In(seconds(30))).ok());
  CHECK(MakePgActuator(Production(a, FenceMode::kStop), connector, log)
            ->Rejoin(At(b), In(seconds(20)))
            .message()
            .find("rejoin: the data directory is not known") == 0);
  Status restarted = MakePgActuator(stop_cfg, connector, log)->Rejoin(At(b), In(seconds(60)));
  INFO(restarted.message());
  REQUIRE(restarted.ok());
  CheckFollows(a, b);
  // And stops a server that runs but does not answer the agent (here a database that is
  // not there; in life, say, no connection slot left).
  PgActuatorConfig unanswered = stop_cfg;
  unanswered.conninfo += " dbname=no_such_database";
  CHECK(MakePgActuator(unanswered, connector, log)->Fence(In(seconds(30))).ok());
  CHECK(a.PostmasterPid() == 0);
}

TEST_CASE("pg actuator: a saved layout outlives the agent; a damaged one is logged and ignored") {
  TempDir state;
  LibpqConnector connector;
  MemoryLogger log;
  PgActuatorConfig cfg = Cfg("host=127.0.0.1 port=1", "", FenceMode::kStop, "");  // refused
  cfg.state_dir = state.path();
  HostPort primary{"127.0.0.1", 1};
  CHECK(MakePgActuator(cfg, connector, log)
            ->Rejoin(primary, In(seconds(5)))
            .message()
            .find("rejoin: the data directory is not known") == 0);
  // Saved by an earlier run: used (it names a directory gone since, so the rejoin stops).
  REQUIRE(SavePgLayout(state.path(),
                       PgLayout{"/nonexistent/pgdata", "/nonexistent/pgdata/postgresql.conf", "15"})
              .ok());
  CHECK(MakePgActuator(cfg, connector, log)->Rejoin(primary, In(seconds(5))).message() ==
        "rejoin: /nonexistent/pgdata: No such file or directory");
  CHECK(log.Text().empty());
  // Damaged: said with the file's name, then as if nothing were saved.
  std::ofstream(PgLayoutPath(state.path()), std::ios::trunc) << "garbage\n";
  auto act = MakePgActuator(cfg, connector, log);
  CHECK(log.Text() ==
        "failover: ignoring the saved PostgreSQL layout: " + PgLayoutPath(state.path()) +
            ": no checksum line (truncated?) (it is learned again when PostgreSQL "
            "answers)\n");
  CHECK(act->Fence(In(seconds(5))).ok());  // refused: down already
  CHECK(act->Rejoin(primary, In(seconds(5)))
            .message()
            .find("rejoin: the data directory is not known") == 0);
}

TEST_CASE("pg actuator: rejoin without wal_log_hints or checksums says so and leaves it running") {
  PgCluster::Options options;
  options.replica = false;
  auto started = PgCluster::Start(options);
  REQUIRE(started.ok());
  PgServer& a = (*started)->primary();
  LibpqConnector connector;
  MemoryLogger log;
  auto act = MakePgActuator(Production(a, FenceMode::kNone), connector, log);
  Status s = act->Rejoin(HostPort{"127.0.0.1", FreePort()}, In(seconds(20)));
  CHECK(s.message() == "rejoin: pg_rewind needs wal_log_hints = on or data checksums, and " +
                           a.data_dir() +
                           " has neither: set wal_log_hints = on on every member and restart "
                           "PostgreSQL");
  CHECK(*a.Sql("SELECT pg_is_in_recovery()") == "f");
}

TEST_CASE("pg actuator: after fence = stop the final WAL position is the shutdown checkpoint") {
  auto started = PgCluster::Start();
  REQUIRE(started.ok());
  PgCluster& c = **started;
  PgServer& a = c.primary();
  PgServer& b = c.replica();
  REQUIRE(a.Sql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS x").ok());
  REQUIRE(c.WaitReplicaCaughtUp().ok());
  LibpqConnector connector;
  MemoryLogger log;
  auto lsn_of = [](const PgServer& s, const std::string& f) {
    return std::stoull(*s.Sql("SELECT " + f + " - '0/0'::pg_lsn"));
  };
  // Under the read-only fence the server answers: its current position.
  auto readonly =
      MakePgActuator(Production(a, FenceMode::kReadonly), connector, log)->WalLsn(In(seconds(10)));
  REQUIRE(readonly.ok());
  uint64_t written = lsn_of(a, "pg_current_wal_lsn()");
  CHECK(*readonly <= written);

  auto act = MakePgActuator(Production(a, FenceMode::kStop), connector, log);
  Status fenced = act->Fence(In(seconds(30)));
  INFO(fenced.message());
  REQUIRE(fenced.ok());
  REQUIRE(a.PostmasterPid() == 0);
  auto final_lsn = act->WalLsn(In(seconds(10)));
  INFO(final_lsn.status().message());
  REQUIRE(final_lsn.ok());
  std::string control;
  REQUIRE(RunCommand({"/usr/lib/postgresql/15/bin/pg_controldata", a.data_dir()}, &control) == 0);
  CHECK(*final_lsn == *ShutdownCheckpointLsn(control));
  CHECK(*final_lsn >= written);  // every write before the fence is before it
  // The walsender sent the shutdown checkpoint before it exited: the replica, whose
  // received position a switchover's target compares with it, has reached it.
  uint64_t received = lsn_of(b, "pg_last_wal_receive_lsn()");
  CHECK(*final_lsn <= received);
  MESSAGE("final " << *final_lsn << ", written before the fence " << written
                   << ", received by the replica " << received);

  // A crash leaves the control file behind the WAL: no final position, and why.
  REQUIRE(a.Start().ok());
  REQUIRE(a.Kill().ok());
  auto crashed = act->WalLsn(In(seconds(10)));
  CHECK(crashed.status().message() ==
        "pg_controldata " + a.data_dir() +
            ": the database cluster state is \"in production\", not \"shut down\": only a "
            "clean shutdown of a primary leaves its final WAL position in the control file");
}
