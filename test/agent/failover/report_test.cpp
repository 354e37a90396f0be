#include "agent/failover/report.h"

#include <doctest/doctest.h>

using namespace kw;

TEST_CASE("failover view in /status, /metrics and the systemd status line") {
  TimePoint now = SteadyClock::now();
  FailoverView v;
  v.role = Role::kLeader;
  v.term = 4;
  v.leader = "pg1";
  v.serving_until = now + milliseconds(3000);
  v.votes_granted = 2;
  v.decisions = {"term 4: elected leader with votes from lb1, pg1"};
  JsonWriter w;
  w.BeginObject();
  WriteFailoverStatus(w, v, now);
  w.EndObject();
  auto j = ParseJson(w.str());
  REQUIRE(j.ok());
  CHECK((*j)["failover"]["role"].str == "leader");
  CHECK((*j)["failover"]["term"].num == 4);
  CHECK((*j)["failover"]["lease"].b);
  CHECK((*j)["failover"]["lease_remaining_ms"].num == 3000);
  CHECK((*j)["failover"]["decisions"].arr.size() == 1);
  std::string m;
  AppendFailoverMetrics(m, v, now);
  CHECK(m.find("keepwatch_failover_term 4\n") != std::string::npos);
  CHECK(m.find("keepwatch_failover_leader 1\n") != std::string::npos);
  CHECK(m.find("keepwatch_failover_votes_granted_total 2\n") != std::string::npos);
  CHECK(FailoverStatusPhrase(v, now) == "leader, term 4");
  CHECK(FailoverStatusPhrase(v, now + seconds(4)) == "leader without lease, term 4");
  v.role = Role::kFollower;
  v.needs_rejoin = true;
  v.leader = "pg2";
  v.term = 5;
  CHECK(FailoverStatusPhrase(v, now) ==
        "FENCED: former primary, pg2 leads term 5; run keepwatch rejoin");
}

TEST_CASE("operator commands are checked before they reach the failover") {
  CHECK(AnswerCommand(nullptr, "reboot", {}).status == 404);
  CHECK(AnswerCommand(nullptr, "switchover", {}).status == 400);
  CHECK(AnswerCommand(nullptr, "failover", {{"to", ""}}).status == 400);
  Answer off = AnswerCommand(nullptr, "pause", {});
  CHECK(off.status == 503);
  CHECK(off.body.find("failover does not run on this node") != std::string::npos);
}
