// The failover rules one at a time (PROTOCOL.md "Rules"); the simulation covers them
// together.
#include "agent/failover/failover.h"

#include <doctest/doctest.h>

#include "test/agent/failover/machine_fixture.h"

using namespace kw;
using kw::test::Cfg;
using kw::test::Grant;
using kw::test::T;

namespace {

Peer PgPeer(const std::string& name, bool alive, bool primary, uint64_t tl, uint64_t lsn) {
  Peer p;
  p.name = name;
  p.alive = alive;
  p.dead = !alive;
  p.pg_up = alive;
  p.pg_primary = primary;
  p.pg_writable = primary;
  p.timeline = tl;
  p.lsn = lsn;
  return p;
}

FailoverMsg VoteReq(const std::string& from, uint64_t term, uint64_t tl, uint64_t lsn,
                    bool primary = false) {
  FailoverMsg m;
  m.type = MsgType::kVoteRequest;
  m.from = from;
  m.term = term;
  m.timeline = tl;
  m.lsn = lsn;
  m.primary = primary;
  return m;
}

const FailoverMsg* SentTo(const Actions& a, const std::string& to) {
  for (const auto& [t, m] : a.send)
    if (t == to) return &m;
  return nullptr;
}

// lb1, a voter without PostgreSQL, that knows term 3.
Failover Voter() { return Failover(Cfg("lb1"), DurableState{3, "", "pg1", false}); }

World Seen(std::vector<Peer> peers) {
  World w;
  w.peers = std::move(peers);
  return w;
}

}  // namespace

TEST_CASE("a vote is granted once per term and persisted with the reply") {
  Failover v = Voter();
  World w = Seen({PgPeer("pg1", false, true, 1, 500), PgPeer("pg2", true, false, 1, 400)});
  Actions a = v.Receive(T(0), VoteReq("pg2", 4, 1, 400), w);
  REQUIRE(a.durable);
  CHECK(a.vote_granted);
  CHECK_FALSE(a.vote_refused);
  CHECK(a.durable->term == 4);
  CHECK(a.durable->voted_for == "pg2");
  REQUIRE(SentTo(a, "pg2"));
  CHECK(SentTo(a, "pg2")->granted);
  // The same candidate again: granted again (a lost reply), nothing new to persist.
  Actions again = v.Receive(T(10), VoteReq("pg2", 4, 1, 400), w);
  CHECK(SentTo(again, "pg2")->granted);
  // Another candidate in the same term: refused.
  Actions other = v.Receive(T(20), VoteReq("pg1", 4, 1, 600), w);
  CHECK_FALSE(SentTo(other, "pg1")->granted);
  CHECK(other.vote_refused);
  CHECK(SentTo(other, "pg1")->reason == "already voted for pg2 in term 4");
  // A stale term: refused.
  CHECK_FALSE(SentTo(v.Receive(T(30), VoteReq("pg1", 3, 1, 600), w), "pg1")->granted);
}

TEST_CASE("no vote while a lease granted to another member runs") {
  Failover v = Voter();
  FailoverMsg renew;
  renew.type = MsgType::kLeaseRenew;
  renew.from = "pg1";
  renew.term = 3;
  renew.seq = 9;
  Actions ack = v.Receive(T(0), renew, Seen({}));
  REQUIRE(SentTo(ack, "pg1"));
  CHECK(SentTo(ack, "pg1")->granted);
  CHECK(SentTo(ack, "pg1")->seq == 9);
  World w = Seen({PgPeer("pg1", false, true, 1, 500), PgPeer("pg2", true, false, 1, 500)});
  // lease 5 s + drift 500 ms from receipt
  Actions early = v.Receive(T(5400), VoteReq("pg2", 4, 1, 500), w);
  CHECK_FALSE(SentTo(early, "pg2")->granted);
  CHECK(SentTo(early, "pg2")->reason.find("lease granted to pg1") == 0);
  CHECK_FALSE(early.durable);  // a refusal does not move the term
  Actions late = v.Receive(T(5501), VoteReq("pg2", 4, 1, 500), w);
  CHECK(SentTo(late, "pg2")->granted);
}

TEST_CASE("a step-down releases the lease at once") {
  Failover v = Voter();
  FailoverMsg renew;
  renew.type = MsgType::kLeaseRenew;
  renew.from = "pg1";
  renew.term = 3;
  v.Receive(T(0), renew, Seen({}));
  FailoverMsg down = renew;
  down.type = MsgType::kStepDown;
  v.Receive(T(100), down, Seen({}));
  World w = Seen({PgPeer("pg1", true, false, 1, 500), PgPeer("pg2", true, false, 1, 500)});
  w.peers[0].pg_up = false;  // pg1's PostgreSQL is down
  CHECK(SentTo(v.Receive(T(200), VoteReq("pg2", 4, 1, 500), w), "pg2")->granted);
}

TEST_CASE("a replica behind another, a priority-0 candidate, a healthy primary: refused") {
  Failover v = Voter();
  World w = Seen({PgPeer("pg1", true, false, 1, 900), PgPeer("pg2", true, false, 1, 800)});
  CHECK(SentTo(v.Receive(T(0), VoteReq("pg2", 4, 1, 800), w), "pg2")->reason ==
        "pg1 has WAL further ahead");
  // Equal positions: the higher priority wins.
  w.peers[0].lsn = 800;
  CHECK(SentTo(v.Receive(T(0), VoteReq("pg2", 4, 1, 800), w), "pg2")->reason ==
        "pg1 is as far ahead and preferred");
  CHECK(SentTo(v.Receive(T(0), VoteReq("pg3", 4, 1, 999), w), "pg3")->reason ==
        "pg3 has priority 0");
  // A higher timeline beats a higher LSN.
  World tl = Seen({PgPeer("pg1", true, false, 1, 5000), PgPeer("pg2", true, false, 2, 10)});
  CHECK(SentTo(v.Receive(T(0), VoteReq("pg2", 4, 2, 10), tl), "pg2")->granted);
  Failover v2 = Voter();
  World healthy = Seen({PgPeer("pg1", true, true, 1, 900), PgPeer("pg2", true, false, 1, 900)});
  CHECK(SentTo(v2.Receive(T(0), VoteReq("pg2", 4, 1, 900), healthy), "pg2")->reason ==
        "pg1 is alive and its PostgreSQL is a writable primary");
}

TEST_CASE("a node with a fresh state does not vote before it knows the term") {
  Failover v(Cfg("lb1"), DurableState{0, "", "", true});
  World none;  // hears nobody yet
  v.Tick(T(0), none);
  CHECK(SentTo(v.Receive(T(10), VoteReq("pg2", 1, 1, 0), none), "pg2")->reason ==
        "fresh state: learning the cluster's term before voting");
  // Gossip shows a member with an established term: adopted, and voting resumes.
  Peer p = PgPeer("pg1", true, true, 1, 10);
  p.term = 6;
  p.leader = "pg1";
  Actions a = v.Tick(T(20), Seen({p}));
  REQUIRE(a.durable);
  CHECK(a.durable->term == 6);
  CHECK(v.term() == 6);
}

TEST_CASE("a candidate's term seen in gossip does not depose a leader") {
  Failover leader(Cfg("pg1"), DurableState{3, "pg1", "pg1", false});
  World w;
  w.pg = LocalPg{true, false, true, false, 1, 100};
  Peer cand = PgPeer("pg2", true, false, 1, 100);
  cand.term = 9;  // standing, no leader
  w.peers = {cand};
  leader.Tick(T(0), w);
  // Not moved to 9: it stands for its own lease in 3 + 1 (an agent restart).
  CHECK(leader.term() == 3);
  CHECK(leader.role() == Role::kPreCandidate);
  Grant(leader, T(10), MsgType::kPreVoteReply, "lb1", w);
  CHECK(leader.term() == 4);
  CHECK(leader.role() == Role::kCandidate);
}

TEST_CASE("the primary wins its lease, serves, and fences when renewals stop") {
  Failover p(Cfg("pg1"), DurableState{0, "", "", false});
  World w;
  w.pg = LocalPg{true, false, true, false, 1, 100};
  w.peers = {PgPeer("pg2", true, false, 1, 100)};
  Actions pre = p.Tick(T(0), w);
  CHECK(p.role() == Role::kPreCandidate);
  CHECK_FALSE(pre.durable);  // no new term before a majority said it would vote
  REQUIRE(SentTo(pre, "lb1"));
  CHECK(SentTo(pre, "lb1")->type == MsgType::kPreVoteRequest);
  CHECK(SentTo(pre, "lb1")->term == 1);
  Actions a = Grant(p, T(5), MsgType::kPreVoteReply, "lb1", w);
  CHECK(p.role() == Role::kCandidate);
  CHECK(a.election_started);
  REQUIRE(a.durable);
  CHECK(a.durable->term == 1);
  CHECK(a.durable->voted_for == "pg1");
  REQUIRE(SentTo(a, "lb1"));
  CHECK(SentTo(a, "lb1")->type == MsgType::kVoteRequest);
  CHECK(SentTo(a, "lb1")->primary);
  Actions won = Grant(p, T(10), MsgType::kVoteReply, "lb1", w);
  CHECK(won.elected);
  CHECK(p.role() == Role::kLeader);
  CHECK_FALSE(won.promote);                   // already a primary
  CHECK_FALSE(p.ServesPrimary(T(10), w.pg));  // no lease yet
  const FailoverMsg* renew = SentTo(won, "lb1");
  REQUIRE(renew);
  Grant(p, T(20), MsgType::kLeaseAck, "lb1", w, renew->seq);
  CHECK(p.ServesPrimary(T(20), w.pg));
  CHECK(p.ServesPrimary(T(5009), w.pg));
  CHECK_FALSE(p.ServesPrimary(T(5010), w.pg));  // 5 s from the renewal's send time
  // Read-only PostgreSQL never serves.
  LocalPg ro = w.pg;
  ro.writable = false;
  CHECK_FALSE(p.ServesPrimary(T(30), ro));
  // No further acks: the lease ends and the leader fences itself.
  for (int t = 1000; t < 5000; t += 1000) CHECK_FALSE(p.Tick(T(t), w).fence);
  Actions lost = p.Tick(T(5010), w);
  CHECK(lost.fence);
  CHECK(p.role() == Role::kFollower);
}

// Found in the namespace lab (test/integration/failover_netns.sh, kill_pg): the leader's
// PostgreSQL was killed, so the step-down's fence failed; PostgreSQL restarted as a
// primary while the replica led, and stayed writable because the machine counted the
// failed fence as done.
TEST_CASE("a fence that failed is run again when the former primary's PostgreSQL is back") {
  Failover p(Cfg("pg1"), DurableState{3, "pg1", "pg1", false});
  World w;
  w.pg = LocalPg{true, false, true, false, 1, 100};
  w.peers = {PgPeer("pg2", true, false, 1, 100)};
  p.Tick(T(0), w);  // stands in term 4 (its primary holds no lease)
  Grant(p, T(5), MsgType::kPreVoteReply, "lb1", w);
  REQUIRE(p.role() == Role::kCandidate);
  Grant(p, T(10), MsgType::kVoteReply, "lb1", w);
  REQUIRE(p.role() == Role::kLeader);

  World down = w;
  down.pg = LocalPg{};  // PostgreSQL killed
  Actions stepped = p.Tick(T(200), down);
  CHECK(stepped.fence);  // tried; the actuator finds nothing to fence
  CHECK(p.role() == Role::kFollower);
  p.FenceFailed(T(250));
  CHECK_FALSE(p.fenced());

  // pg2 was elected in term 5 and promoted; pg1's PostgreSQL comes back as a primary.
  World back = w;
  Peer pg2 = PgPeer("pg2", true, true, 2, 300);
  pg2.term = 5;
  pg2.leader = "pg2";
  back.peers = {pg2};
  Actions soon = p.Tick(T(300), back);
  CHECK(p.needs_rejoin());
  CHECK_FALSE(soon.fence);  // not before the retry delay (one election timeout)
  Actions again = p.Tick(T(250 + 2000), back);
  CHECK(again.fence);
  CHECK(p.fenced());
  CHECK_FALSE(p.Tick(T(2400), back).fence);  // once
}

// Found in the namespace lab (freeze_agent): the primary's agent stopped (SIGSTOP), HAProxy
// dropped it, and its PostgreSQL kept streaming to the replica, which therefore never
// stood: no primary at all for as long as the agent stayed frozen.
TEST_CASE("a streaming replica stands once the primary's agent is dead, not before") {
  Failover r(Cfg("pg2"), DurableState{3, "", "pg1", false});
  World w;
  w.pg = LocalPg{true, true, false, true, 1, 100};  // a replica, WAL receiver streaming
  Peer pg1 = PgPeer("pg1", true, true, 1, 100);
  pg1.term = 3;
  pg1.leader = "pg1";
  Peer lb1;
  lb1.name = "lb1";
  lb1.alive = true;
  lb1.term = 3;
  lb1.leader = "pg1";
  w.peers = {pg1, lb1};
  for (int t = 0; t < 10000; t += 500) CHECK(r.Tick(T(t), w).send.empty());  // alive: no
  CHECK(r.role() == Role::kFollower);
  w.peers[0].alive = false;  // suspect: still no
  CHECK(r.Tick(T(10000), w).send.empty());
  w.peers[0].dead = true;  // declared dead by gossip
  Actions a = r.Tick(T(10500), w);
  CHECK(r.role() == Role::kPreCandidate);
  REQUIRE(SentTo(a, "lb1"));
  CHECK(SentTo(a, "lb1")->type == MsgType::kPreVoteRequest);
}

TEST_CASE("a pre-vote is answered as the vote would be, and changes nothing") {
  Failover v = Voter();
  FailoverMsg renew;
  renew.type = MsgType::kLeaseRenew;
  renew.from = "pg1";
  renew.term = 3;
  v.Receive(T(0), renew, Seen({}));
  World w = Seen({PgPeer("pg1", false, true, 1, 500), PgPeer("pg2", true, false, 1, 500)});
  FailoverMsg pre = VoteReq("pg2", 4, 1, 500);
  pre.type = MsgType::kPreVoteRequest;
  Actions early = v.Receive(T(1000), pre, w);
  REQUIRE(SentTo(early, "pg2"));
  CHECK(SentTo(early, "pg2")->type == MsgType::kPreVoteReply);
  CHECK_FALSE(SentTo(early, "pg2")->granted);
  CHECK(SentTo(early, "pg2")->term == 3);  // a refusal carries the voter's own term
  CHECK(SentTo(early, "pg2")->reason.find("lease granted to pg1") == 0);
  CHECK(early.prevote_refused);
  Actions late = v.Receive(T(5501), pre, w);
  CHECK(SentTo(late, "pg2")->granted);
  CHECK(SentTo(late, "pg2")->term == 4);
  CHECK_FALSE(late.durable);  // no term, no vote
  CHECK_FALSE(late.vote_granted);
  CHECK(v.term() == 3);
  CHECK(v.durable().voted_for.empty());
  // A yes binds nothing: the vote of term 4 may still go to another candidate.
  World pg1_ahead = w;
  pg1_ahead.peers[0] = PgPeer("pg1", true, false, 1, 900);
  CHECK(SentTo(v.Receive(T(5600), VoteReq("pg1", 4, 1, 900), pg1_ahead), "pg1")->granted);
}

// Found in the namespace lab (cut_primary): the old primary, cut off, stood again and again
// and took its term to 32; after the heal its refused LeaseAck carried term 32 and deposed
// the leader the others had elected, a short write outage for nothing.
TEST_CASE("a node cut off never raises its term, so the heal does not depose the new leader") {
  Failover old(Cfg("pg1"), DurableState{3, "pg1", "pg1", false});
  World cut;
  cut.pg = LocalPg{true, false, true, false, 1, 100};
  cut.peers = {PgPeer("pg2", false, false, 1, 100)};
  Peer lb1;
  lb1.name = "lb1";
  cut.peers.push_back(lb1);  // neither alive from here
  int pre_votes = 0;
  for (int t = 0; t < 60000; t += 100) {
    Actions a = old.Tick(T(t), cut);
    CHECK_FALSE(a.durable);
    for (const auto& [to, m] : a.send) {
      CHECK(m.type == MsgType::kPreVoteRequest);
      pre_votes += m.term == 4;
    }
  }
  CHECK(pre_votes > 10);  // it kept asking
  CHECK(old.term() == 3);
  // Healed: pg2 leads term 4.  pg1 follows it and grants its lease.
  World healed = cut;
  Peer pg2 = PgPeer("pg2", true, true, 2, 300);
  pg2.term = 4;
  pg2.leader = "pg2";
  healed.peers[0] = pg2;
  healed.peers[1].alive = true;
  old.Tick(T(60000), healed);
  CHECK(old.term() == 4);
  CHECK(old.needs_rejoin());
  FailoverMsg renew;
  renew.type = MsgType::kLeaseRenew;
  renew.from = "pg2";
  renew.term = 4;
  Actions ack = old.Receive(T(60100), renew, healed);
  REQUIRE(SentTo(ack, "pg2"));
  CHECK(SentTo(ack, "pg2")->granted);
  CHECK(SentTo(ack, "pg2")->term == 4);
}

TEST_CASE("a pre-candidate behind the cluster learns its term; each refusal is logged once") {
  Failover r(Cfg("pg2"), DurableState{3, "", "pg1", false});
  World w;
  w.pg = LocalPg{true, true, false, false, 1, 100};
  w.peers = {PgPeer("pg1", false, true, 1, 100)};
  r.Tick(T(0), w);
  REQUIRE(r.role() == Role::kPreCandidate);
  FailoverMsg no;
  no.type = MsgType::kPreVoteReply;
  no.from = "lb1";
  no.term = 3;
  no.reason = "lease granted to pg1 runs 900ms more";
  CHECK(r.Receive(T(10), no, w).log.size() == 1);
  CHECK(r.Receive(T(210), no, w).log.empty());  // the resent request's same answer
  // A voter already in term 5 (an election pg2 missed): pg2 joins it as a follower.
  no.term = 5;
  no.reason = "stale term 4";
  Actions behind = r.Receive(T(400), no, w);
  CHECK(r.term() == 5);
  CHECK(r.role() == Role::kFollower);
  REQUIRE(behind.durable);
  CHECK(behind.durable->term == 5);
}

// A readonly fence is a server setting (ALTER SYSTEM): it outlives the agent.  A primary
// fenced by an agent that then restarted, and won its lease back, stayed read-only for
// good: leader, renewing, and nobody taking writes.
TEST_CASE("a leader whose PostgreSQL is still read-only from an earlier fence lifts it") {
  Failover p(Cfg("pg1"), DurableState{3, "pg1", "pg1", false});  // restarted: not fenced_
  World w;
  w.pg = LocalPg{true, false, false, false, 1, 100};  // primary, read-only
  w.peers = {PgPeer("pg2", true, false, 1, 100)};
  p.Tick(T(0), w);
  Grant(p, T(5), MsgType::kPreVoteReply, "lb1", w);
  Grant(p, T(10), MsgType::kVoteReply, "lb1", w);
  REQUIRE(p.role() == Role::kLeader);
  // lb1 acknowledges every renewal: the lease holds throughout.
  auto tick = [&](int t) {
    Actions a = p.Tick(T(t), w);
    if (const FailoverMsg* renew = SentTo(a, "lb1"))
      Grant(p, T(t + 1), MsgType::kLeaseAck, "lb1", w, renew->seq);
    return a;
  };
  Actions a = tick(100);
  CHECK(a.unfence);
  CHECK_FALSE(a.fence);
  int again = 0;  // once per lease while the check catches up
  for (int t = 1100; t <= 5000; t += 1000) again += tick(t).unfence;
  CHECK(again == 0);
  CHECK(tick(5100).unfence);
  CHECK(p.role() == Role::kLeader);
  w.pg.writable = true;
  for (int t = 6100; t <= 12100; t += 1000) CHECK_FALSE(tick(t).unfence);
}
