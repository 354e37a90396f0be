// The failover's PostgreSQL actions against a real primary and replica.
#include "agent/failover/pg_actuator.h"

#include <doctest/doctest.h>

#include "test/support/pg_cluster.h"

using namespace kw;
using namespace kw::test;

namespace {

std::string Superuser(const PgServer& s) {
  return "host=127.0.0.1 port=" + std::to_string(s.port()) + " user=postgres dbname=postgres";
}

}  // namespace

TEST_CASE("pg actuator: fence read-only cuts sessions, unfence restores, promote the replica") {
  auto started = PgCluster::Start();
  REQUIRE(started.ok());
  PgCluster& c = **started;
  LibpqConnector connector;
  auto primary = MakePgActuator({Superuser(c.primary()), "", FenceMode::kReadonly, ""}, connector);
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

  auto replica = MakePgActuator({Superuser(c.replica()), "", FenceMode::kReadonly, ""}, connector);
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
        "'echo first; echo 'no such cluster' >&2; exit 3' exited with 3 (no such cluster)");
  TimePoint t0 = SteadyClock::now();
  Status slow = RunShell("sleep 30", SteadyClock::now() + milliseconds(300));
  CHECK(SteadyClock::now() - t0 < seconds(3));
  CHECK(slow.message() == "'sleep 30' did not finish in time; killed");
  LibpqConnector connector;
  auto cmd =
      MakePgActuator({"host=127.0.0.1 port=1", "exit 4", FenceMode::kCommand, "exit 5"}, connector);
  CHECK(cmd->Promote(SteadyClock::now() + seconds(5)).message() == "'exit 4' exited with 4");
  CHECK(cmd->Fence(SteadyClock::now() + seconds(5)).message() == "'exit 5' exited with 5");
  CHECK(cmd->Unfence(SteadyClock::now() + seconds(5)).ok());
}
