#include "agent/gossip/cluster_api.h"

#include <doctest/doctest.h>

#include "agent/json.h"

using namespace kw;
using namespace kw::gossip;

namespace {

const TimePoint kNow = TimePoint{} + seconds(5000);

ClusterView SampleView() {
  ClusterView v;
  v.self = "pg1";
  v.cluster = "odoo-prod";
  v.awareness = 1;
  MemberView a;
  a.name = "pg1";
  a.self = true;
  a.incarnation = 2;
  a.status_since = kNow - seconds(60);
  a.state.role = PgRole::kPrimary;
  a.state.timeline = 3;
  a.state.current_lsn = 0x16B374D848ull;
  a.state.term = 7;
  a.state.leader = "pg1";
  a.state.checks_passing = 4;
  MemberView b;
  b.name = "pg2";
  b.status = MemberStatus::kSuspect;
  b.incarnation = 5;
  b.status_since = kNow - seconds(2);
  b.last_heard = kNow - milliseconds(1500);
  b.state.role = PgRole::kReplica;
  b.state.checks_failing = 1;
  b.state.failing = {"filestore"};
  MemberView c;
  c.name = "lb1";
  c.status = MemberStatus::kDead;
  v.members = {a, b, c};
  v.drops[static_cast<size_t>(DropReason::kAuth)] = 3;
  v.datagrams_in = 10;
  return v;
}

}  // namespace

TEST_CASE("gossip cluster api: /cluster JSON carries every member, its state and LSNs as text") {
  Answer a = ClusterAnswer(SampleView(), kNow);
  CHECK(a.status == 200);
  auto j = ParseJson(a.body);
  REQUIRE(j.ok());
  const Json& c = *j;
  CHECK(c["cluster"].str == "odoo-prod");
  CHECK(c["alive"].num == 1);
  CHECK(c["suspect"].num == 1);
  CHECK(c["dead"].num == 1);
  CHECK(c["term"].num == 7);
  CHECK(c["leader"].str == "pg1");
  REQUIRE(c["members"].arr.size() == 3);
  const Json& pg1 = c["members"].arr[0];
  CHECK(pg1["self"].b);
  CHECK(pg1["state"]["role"].str == "primary");
  CHECK(pg1["state"]["current_lsn"].str == "16/B374D848");
  CHECK(pg1["status_since_seconds"].num == 60);
  const Json& pg2 = c["members"].arr[1];
  CHECK(pg2["status"].str == "suspect");
  CHECK(pg2["incarnation"].num == 5);
  CHECK(pg2["last_heard_seconds"].num == doctest::Approx(1.5));
  CHECK(pg2["state"]["failing"].arr[0].str == "filestore");
  CHECK(c["members"].arr[2]["last_heard_seconds"].IsNull());
  CHECK(FormatLsn(0) == "0/0");
}

TEST_CASE("gossip cluster api: metrics lines") {
  std::string m;
  AppendGossipMetrics(SampleView(), kNow, m);
  CHECK(m.find("keepwatch_gossip_members{state=\"alive\"} 1\n") != std::string::npos);
  CHECK(m.find("keepwatch_gossip_member_status{member=\"pg2\",state=\"suspect\"} 1\n") !=
        std::string::npos);
  CHECK(m.find("keepwatch_gossip_dropped_total{reason=\"auth\"} 3\n") != std::string::npos);
  CHECK(m.find("keepwatch_gossip_dropped_total{reason=\"replay\"} 0\n") != std::string::npos);
  CHECK(m.find("keepwatch_gossip_datagrams_total{direction=\"in\"} 10\n") != std::string::npos);
  CHECK(m.find("# TYPE keepwatch_gossip_dropped_total counter\n") != std::string::npos);
  CHECK(m.find("keepwatch_gossip_member_last_heard_seconds{member=\"pg2\"} 1.5\n") !=
        std::string::npos);
}

TEST_CASE("gossip cluster api: node state from the snapshot") {
  Snapshot snap;
  CheckState pg;
  pg.name = "postgres";
  pg.type = "postgres";
  pg.has_result = true;
  pg.up = true;
  pg.last = CheckResult::Pass("streaming");
  pg.last.Label("role", "replica").Value("timeline", 3).Value("received_lsn", 0x3000060);
  CheckState fs;
  fs.name = "filestore";
  fs.type = "ocfs2";
  fs.has_result = true;
  fs.up = false;
  CheckState fresh;
  fresh.name = "iscsi";
  fresh.type = "iscsi";  // no result yet: counted nowhere
  snap.checks = {pg, fs, fresh};
  NodeState s = NodeStateFromSnapshot(snap);
  CHECK(s.role == PgRole::kReplica);
  CHECK(s.timeline == 3);
  CHECK(s.received_lsn == 0x3000060);
  CHECK(s.checks_passing == 1);
  CHECK(s.checks_failing == 1);
  CHECK(s.failing == std::vector<std::string>{"filestore"});

  Snapshot none;
  CHECK(NodeStateFromSnapshot(none).role == PgRole::kNone);
}
