// Real HAProxy (packaging/examples/haproxy.cfg) in front of a real PostgreSQL primary and
// replica, each with its own keepwatchd: psql through the rw port reaches the primary,
// through the ro port the replica; a primary that turns read-only loses its sessions
// (on-marked-down shutdown-sessions); after promotion and the old primary's stop, rw
// reaches the new primary and HAProxy's stats show the old one down.
#include "test/support/haproxy.h"

#include <doctest/doctest.h>

#include "test/support/agent.h"
#include "test/support/pg_cluster.h"

using namespace kw;
using namespace kw::test;

namespace {

std::string PgSection(const std::string& conninfo) {
  return "[check.postgres]\ntype = postgres\nconninfo = " + conninfo +
         "\ninterval = 500ms\ntimeout = 1s\nrise = 1\nfall = 1\nmax_lag = 16MB\n";
}

// Which server answers on `port`: "primary:PORT" / "replica:PORT" by recovery state.
std::string WhoAnswers(int port) {
  auto r = SqlAt(port,
                 "SELECT CASE WHEN pg_is_in_recovery() THEN 'replica' ELSE 'primary' END "
                 "|| ':' || current_setting('port')",
                 seconds(5));
  return r.ok() ? *r : "error: " + r.status().message();
}

bool StatusIs(const Haproxy& h, const std::string& server, const std::string& want) {
  auto st = h.ServerStatus();
  auto it = st.find(server);
  return it != st.end() && it->second == want;
}

void ExpectStatus(const Haproxy& h, const std::string& server, const std::string& want) {
  bool ok = WaitFor([&] { return StatusIs(h, server, want); }, seconds(15));
  auto st = h.ServerStatus();
  CHECK_MESSAGE(ok, server << " is '" << st[server] << "', wanted " << want);
}

}  // namespace

TEST_CASE("haproxy: rw reaches the primary, ro the replica, and follows a promotion") {
  auto started = PgCluster::Start();
  REQUIRE_MESSAGE(started.ok(), started.status().message());
  PgCluster& c = **started;
  Agent agent1(PgSection(c.primary().Conninfo()));
  Agent agent2(PgSection(c.replica().Conninfo()));
  auto h = Haproxy::Start({c.primary().port(), agent1.port()}, {c.replica().port(), agent2.port()});
  REQUIRE_MESSAGE(h.ok(), h.status().message());
  Haproxy& hp = **h;

  ExpectStatus(hp, "postgres_rw/postgresql1", "UP");
  ExpectStatus(hp, "postgres_rw/postgresql2", "DOWN");
  ExpectStatus(hp, "postgres_ro/postgresql1", "DOWN");
  ExpectStatus(hp, "postgres_ro/postgresql2", "UP");
  std::string primary = "primary:" + std::to_string(c.primary().port());
  std::string replica = "replica:" + std::to_string(c.replica().port());
  for (int i = 0; i < 5; ++i) {
    CHECK(WhoAnswers(hp.rw_port()) == primary);
    CHECK(WhoAnswers(hp.ro_port()) == replica);
  }
  CHECK(SqlAt(hp.rw_port(), "CREATE TABLE through_rw (x int)").ok());
  auto ro_write = SqlAt(hp.ro_port(), "CREATE TABLE through_ro (x int)");
  CHECK_FALSE(ro_write.ok());

  // A primary that stops being writable is marked down, and its open sessions through
  // HAProxy are closed (on-marked-down shutdown-sessions) rather than left writing.
  Process held({"psql", "-X", "-h", "127.0.0.1", "-p", std::to_string(hp.rw_port()), "-U",
                "postgres", "-d", "postgres", "-c", "SELECT pg_sleep(60)"});
  REQUIRE(WaitFor(
      [&] {
        auto n = c.primary().Sql(
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'");
        return n.ok() && *n == "1";
      },
      seconds(10)));
  REQUIRE(c.primary().Sql("ALTER SYSTEM SET default_transaction_read_only = on").ok());
  REQUIRE(c.primary().Sql("SELECT pg_reload_conf()").ok());
  ExpectStatus(hp, "postgres_rw/postgresql1", "DOWN");
  CHECK(WaitFor([&] { return !held.Running(); }, seconds(5)));
  CHECK(held.Log().find("server closed the connection") != std::string::npos);
  REQUIRE(c.primary().Sql("ALTER SYSTEM RESET default_transaction_read_only").ok());
  REQUIRE(c.primary().Sql("SELECT pg_reload_conf()").ok());
  ExpectStatus(hp, "postgres_rw/postgresql1", "UP");

  // Failover by hand: the old primary stops, the replica is promoted.
  REQUIRE(c.primary().Stop("fast").ok());
  REQUIRE(c.replica().Sql("SELECT pg_promote(true, 30)").ok());
  ExpectStatus(hp, "postgres_rw/postgresql2", "UP");
  ExpectStatus(hp, "postgres_rw/postgresql1", "DOWN");
  ExpectStatus(hp, "postgres_ro/postgresql2", "DOWN");
  std::string new_primary = "primary:" + std::to_string(c.replica().port());
  CHECK(WhoAnswers(hp.rw_port()) == new_primary);
  CHECK(SqlAt(hp.rw_port(), "INSERT INTO through_rw VALUES (1)").ok());
  auto st = hp.ServerStatus();
  CHECK(st["postgres_rw/postgresql1"] == "DOWN");
  CHECK(st["postgres_rw/BACKEND"] == "UP");
}
