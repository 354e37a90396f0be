#include "agent/failover/peers.h"

#include <doctest/doctest.h>

using namespace kw;

TEST_CASE("the gossip view becomes failover peers") {
  gossip::ClusterView v;
  gossip::MemberView self, primary, replica, lb;
  self.name = "pg2";
  self.self = true;
  primary.name = "pg1";
  primary.status = gossip::MemberStatus::kDead;
  primary.state.role = gossip::PgRole::kPrimary;
  primary.state.timeline = 3;
  primary.state.current_lsn = 900;
  primary.state.received_lsn = 1;
  primary.state.term = 7;
  primary.state.leader = "pg1";
  replica.name = "pg3";
  replica.status = gossip::MemberStatus::kSuspect;
  replica.state.role = gossip::PgRole::kReplica;
  replica.state.received_lsn = 850;
  lb.name = "lb1";
  lb.state.role = gossip::PgRole::kNone;
  v.members = {self, primary, replica, lb};
  auto peers = PeersFromView(v);
  REQUIRE(peers.size() == 3);
  CHECK(peers[0].name == "pg1");
  CHECK(peers[0].dead);
  CHECK_FALSE(peers[0].alive);
  CHECK(peers[0].pg_primary);
  CHECK(peers[0].lsn == 900);
  CHECK(peers[0].timeline == 3);
  CHECK(peers[0].term == 7);
  CHECK(peers[0].leader == "pg1");
  CHECK_FALSE(peers[1].alive);  // suspect: neither alive nor dead
  CHECK_FALSE(peers[1].dead);
  CHECK(peers[1].pg_up);
  CHECK(peers[1].lsn == 850);
  CHECK(peers[2].alive);
  CHECK_FALSE(peers[2].pg_up);
}
