// The role endpoints' whole table over hand-made snapshots.
#include "agent/roles.h"

#include <doctest/doctest.h>

#include "agent/json.h"

using namespace kw;

namespace {

CheckState Pg(CheckResult last, bool up = true) {
  CheckState c;
  c.name = "db";
  c.type = "postgres";
  c.has_result = true;
  c.up = up;
  c.last = std::move(last);
  return c;
}

CheckResult Primary(bool writable = true) {
  CheckResult r = CheckResult::Pass("primary");
  r.Label("role", "primary")
      .Value("in_recovery", 0)
      .Value("writable", writable ? 1 : 0)
      .Value("timeline", 3)
      .Value("max_lag_bytes", 16 << 20);
  return r;
}

CheckResult Replica(double lag_bytes, const std::string& receiver = "streaming") {
  CheckResult r = CheckResult::Pass("replica");
  r.Label("role", "replica")
      .Label("wal_receiver", receiver)
      .Value("in_recovery", 1)
      .Value("writable", 0)
      .Value("timeline", 3)
      .Value("lag_bytes", lag_bytes)
      .Value("lag_seconds", lag_bytes > 0 ? 2.5 : 0)
      .Value("max_lag_bytes", 16 << 20);
  return r;
}

Snapshot Snap(std::vector<CheckState> checks) {
  Snapshot s;
  s.checks = std::move(checks);
  return s;
}

Json Body(const Answer& a) {
  auto j = ParseJson(a.body);
  REQUIRE_MESSAGE(j.ok(), a.body);
  return *j;
}

int Code(const Snapshot& s, const char* path, const Query& q = {}) {
  return AnswerRole(path, q, s).status;
}

const char* kPrimaryPaths[] = {"/", "/primary", "/read-write", "/master"};
const char* kReplicaPaths[] = {"/replica", "/standby"};

}  // namespace

TEST_CASE("roles: the role paths") {
  for (const char* p :
       {"/", "/primary", "/read-write", "/master", "/replica", "/standby", "/read-only", "/health"})
    CHECK(IsRolePath(p));
  for (const char* p : {"/status", "/check/db", "/primaryx", "", "/replica/"})
    CHECK_FALSE(IsRolePath(p));
}

TEST_CASE("roles: a writable primary") {
  Snapshot s = Snap({Pg(Primary())});
  for (const char* p : kPrimaryPaths) CHECK(Code(s, p) == 200);
  for (const char* p : kReplicaPaths) CHECK(Code(s, p) == 503);
  CHECK(Code(s, "/read-only") == 200);
  CHECK(Code(s, "/health") == 200);
  Json ok = Body(AnswerRole("/primary", {}, s));
  CHECK(ok["role"].str == "primary");
  CHECK(ok["reason"].str == "writable primary");
  CHECK(ok["timeline"].num == 3);
  CHECK(ok["check"].str == "db");
  Json no = Body(AnswerRole("/replica", {}, s));
  CHECK(no["role"].str == "primary");
  CHECK(no["reason"].str == "not a replica: primary");
}

TEST_CASE("roles: a read-only primary is no /primary but still /read-only") {
  Snapshot s = Snap({Pg(Primary(false))});
  for (const char* p : kPrimaryPaths) CHECK(Code(s, p) == 503);
  CHECK(Body(AnswerRole("/primary", {}, s))["reason"].str ==
        "primary is read-only (transaction_read_only)");
  CHECK(Code(s, "/read-only") == 200);
  CHECK(Code(s, "/health") == 200);
  CHECK(Code(s, "/replica") == 503);
}

TEST_CASE("roles: a streaming replica within and beyond lag") {
  Snapshot s = Snap({Pg(Replica(1024))});
  for (const char* p : kPrimaryPaths) CHECK(Code(s, p) == 503);
  for (const char* p : kReplicaPaths) CHECK(Code(s, p) == 200);
  CHECK(Code(s, "/read-only") == 200);
  CHECK(Code(s, "/health") == 200);
  Json ok = Body(AnswerRole("/replica", {}, s));
  CHECK(ok["role"].str == "replica");
  CHECK(ok["reason"].str == "streaming, lag 1.0 kB <= 16 MB");
  CHECK(ok["replication_state"].str == "streaming");
  CHECK(ok["lag_bytes"].num == 1024);
  CHECK(Body(AnswerRole("/primary", {}, s))["reason"].str == "not a primary: replica");

  Snapshot far = Snap({Pg(Replica(34.0 * (1 << 20)))});
  CHECK(Code(far, "/replica") == 503);
  CHECK(Code(far, "/read-only") == 503);
  CHECK(Code(far, "/health") == 200);
  Json no = Body(AnswerRole("/replica", {}, far));
  CHECK(no["reason"].str == "lag 34 MB > 16 MB");
  CHECK(no["lag_seconds"].num == 2.5);
  CHECK(no["max_lag_bytes"].num == 16 << 20);
  // ?lag= overrides the configured max_lag, in bytes or with a unit.
  CHECK(Code(far, "/replica", {{"lag", "64MB"}}) == 200);
  CHECK(Code(far, "/replica", {{"lag", "1GB"}}) == 200);
  CHECK(Code(far, "/replica", {{"lag", "35651584"}}) == 200);  // exactly 34 MB
  CHECK(Code(far, "/replica", {{"lag", "35651583"}}) == 503);
  CHECK(Code(far, "/read-only", {{"lag", "64MB"}}) == 200);
  CHECK(Code(s, "/replica", {{"lag", "0"}}) == 503);
  CHECK(Code(Snap({Pg(Replica(0))}), "/replica", {{"lag", "0"}}) == 200);
  CHECK(Body(AnswerRole("/replica", {{"lag", "1MB"}}, far))["max_lag_bytes"].num == 1 << 20);
}

TEST_CASE("roles: a replica that does not stream is not a /replica") {
  for (const char* state : {"", "waiting", "stopping", "catchup"}) {
    CAPTURE(state);
    Snapshot s = Snap({Pg(Replica(0, state))});
    CHECK(Code(s, "/replica") == 503);
    CHECK(Code(s, "/read-only") == 503);
    CHECK(Code(s, "/health") == 200);
    CHECK(Code(s, "/primary") == 503);
  }
  CheckResult none = CheckResult::Pass("replica");
  none.Label("role", "replica").Value("writable", 0).Value("lag_bytes", 0);
  Json b = Body(AnswerRole("/replica", {}, Snap({Pg(none)})));
  CHECK(b["reason"].str == "replica not streaming (WAL receiver: none)");
  CHECK(b["replication_state"].str == "none");
  CHECK(Code(Snap({Pg(Replica(0))}), "/replica", {{"replication_state", "streaming"}}) == 200);
}

TEST_CASE("roles: malformed queries are 400 with a message") {
  Snapshot s = Snap({Pg(Replica(0))});
  for (const char* bad : {"abc", "", "-5", "16 XB", "lots"}) {
    CAPTURE(bad);
    Answer a = AnswerRole("/replica", {{"lag", bad}}, s);
    CHECK(a.status == 400);
    CHECK(Body(a)["error"].str.starts_with("lag: "));
    CHECK(AnswerRole("/primary", {{"lag", bad}}, s).status == 400);
  }
  Answer rs = AnswerRole("/replica", {{"replication_state", "in archive recovery"}}, s);
  CHECK(rs.status == 400);
  CHECK(Body(rs)["error"].str.find("streaming") != std::string::npos);
  // Keys we do not know (Patroni's tags) are ignored.
  CHECK(Code(s, "/replica", {{"tag_nofailover", "true"}}) == 200);
}

TEST_CASE("roles: PostgreSQL down, not yet up, or not configured") {
  CheckResult refused = CheckResult::Fail("refused: Connection refused");
  refused.Label("failure", "refused");
  Snapshot down = Snap({Pg(refused, false)});
  for (const char* p : {"/", "/primary", "/replica", "/read-only", "/health"}) {
    CAPTURE(p);
    Answer a = AnswerRole(p, {}, down);
    CHECK(a.status == 503);
    Json b = Body(a);
    CHECK(b["role"].str == "unknown");
    CHECK(b["reason"].str == "postgres check fail: refused: Connection refused");
  }
  // One failed probe within `fall`: still up for /health, but no role is claimed.
  Snapshot blip = Snap({Pg(CheckResult::Timeout("hung: no answer"), true)});
  CHECK(Code(blip, "/health") == 200);
  CHECK(Code(blip, "/primary") == 503);
  CHECK(Code(blip, "/replica") == 503);
  // Passing but not yet risen.
  Snapshot rising = Snap({Pg(Primary(), false)});
  CHECK(Code(rising, "/primary") == 503);
  CHECK(Code(rising, "/health") == 503);
  CHECK(
      Body(AnswerRole("/primary", {}, rising))["reason"].str.starts_with("postgres check not up"));
  // No result yet.
  CheckState fresh;
  fresh.name = "db";
  fresh.type = "postgres";
  Snapshot none = Snap({fresh});
  CHECK(Code(none, "/health") == 503);
  CHECK(Body(AnswerRole("/primary", {}, none))["reason"].str ==
        "no result from the postgres check yet");
  // No postgres check at all; other checks do not count.
  CheckState tcp;
  tcp.name = "ssh";
  tcp.type = "tcp";
  tcp.has_result = tcp.up = true;
  tcp.last = CheckResult::Pass("ok");
  Snapshot other = Snap({tcp});
  CHECK(Code(other, "/primary") == 503);
  CHECK(Code(other, "/health") == 503);
  CHECK(Body(AnswerRole("/health", {}, other))["reason"].str == "no postgres check is configured");
  // The postgres check is found among others.
  Snapshot both = Snap({tcp, Pg(Primary())});
  CHECK(Code(both, "/primary") == 200);
}
