// The operator's commands on the pure state machine (PROTOCOL.md "Operator commands"):
// switchover, failover --to, pause/resume, rejoin.  The services test runs them on threads.
#include <doctest/doctest.h>

#include "agent/failover/failover.h"
#include "test/agent/failover/machine_fixture.h"

using namespace kw;
using kw::test::Cfg;
using kw::test::Grant;
using kw::test::T;

namespace {

Peer Pg(const std::string& name, bool primary, uint64_t lsn, bool writable = true) {
  Peer p;
  p.name = name;
  p.alive = p.pg_up = true;
  p.pg_primary = primary;
  p.pg_writable = primary && writable;
  p.timeline = 1;
  p.lsn = lsn;
  return p;
}

Peer Voter(const std::string& name) {
  Peer p;
  p.name = name;
  p.alive = true;
  return p;
}

LocalPg Primary(uint64_t lsn) { return LocalPg{true, false, true, false, 1, lsn}; }
LocalPg Replica(uint64_t lsn) { return LocalPg{true, true, false, true, 1, lsn}; }

const FailoverMsg* SentTo(const Actions& a, const std::string& to, MsgType type) {
  for (const auto& [t, m] : a.send)
    if (t == to && m.type == type) return &m;
  return nullptr;
}

FailoverMsg From(const std::string& from, MsgType type, uint64_t term) {
  FailoverMsg m;
  m.type = type;
  m.from = from;
  m.term = term;
  return m;
}

bool Logged(const Actions& a, const std::string& part) {
  for (const std::string& l : a.log)
    if (l.find(part) != std::string::npos) return true;
  return false;
}

// pg1 leading term 4 with a lease (lb1 acknowledged its first renewal).
Failover Leader(World& w) {
  Failover p(Cfg("pg1"), DurableState{3, "", "pg1", false});
  w.pg = Primary(900);
  w.peers = {Pg("pg2", false, 800), Voter("lb1")};
  p.Tick(T(0), w);
  Grant(p, T(5), MsgType::kPreVoteReply, "lb1", w);
  Actions won = Grant(p, T(10), MsgType::kVoteReply, "lb1", w);
  REQUIRE(p.role() == Role::kLeader);
  Grant(p, T(20), MsgType::kLeaseAck, "lb1", w, SentTo(won, "lb1", MsgType::kLeaseRenew)->seq);
  REQUIRE(p.ServesPrimary(T(30), w.pg));
  return p;
}

}  // namespace

TEST_CASE("switchover: the leader fences first and hands over only after the fence") {
  World w;
  Failover p = Leader(w);
  Actions a = p.Switchover(T(100), "pg2", w);
  CHECK(a.fence);
  CHECK(a.handoff_to == "pg2");
  CHECK_FALSE(p.ServesPrimary(T(100), w.pg));  // 503 at once
  CHECK(a.send.empty());                       // nobody released before the fence is done
  Actions ready = p.HandoffReady(T(300), uint64_t{950});
  const FailoverMsg* h = SentTo(ready, "pg2", MsgType::kHandoff);
  REQUIRE(h);
  CHECK(h->lsn == 950);
  CHECK(h->term == 4);
  CHECK(SentTo(ready, "lb1", MsgType::kStepDown));
  // It does not stand again while the target takes over.
  w.pg.writable = false;
  CHECK(p.Tick(T(400), w).send.empty());
  CHECK(p.role() == Role::kFollower);
}

TEST_CASE("switchover: refusals, forwarding, and a failed fence abandons it") {
  World w;
  Failover p = Leader(w);
  CHECK(Logged(p.Switchover(T(100), "pg3", w), "refused: it has priority 0"));
  CHECK(Logged(p.Switchover(T(100), "pg1", w), "refused: it already leads"));
  World dead = w;
  dead.peers[0].alive = false;
  CHECK(Logged(p.Switchover(T(100), "pg2", dead), "waits: it is not alive"));
  CHECK(p.role() == Role::kLeader);

  // A follower passes the request on to the leader it knows.
  Failover lb1(Cfg("lb1"), DurableState{4, "pg1", "pg1", false});
  Actions fwd = lb1.Switchover(T(0), "pg2", World{});
  const FailoverMsg* m = SentTo(fwd, "pg1", MsgType::kSwitchover);
  REQUIRE(m);
  CHECK(m->target == "pg2");
  // A forwarded request reaching a non-leader goes no further.
  CHECK(lb1.Receive(T(0), *m, World{}).send.empty());

  p.Switchover(T(100), "pg2", w);
  Actions failed = p.HandoffReady(T(200), Status::Error("the fence failed"));
  CHECK(failed.send.empty());
  CHECK(Logged(failed, "abandoned: the fence failed; standing again after the lease"));
}

TEST_CASE("switchover: the target stands only once its WAL reached the final position") {
  Failover t(Cfg("pg2"), DurableState{4, "pg1", "pg1", false});
  World w;
  w.pg = Replica(800);
  w.peers = {Pg("pg1", true, 950, false), Voter("lb1")};
  // The old leader released the voters (pg2 among them), then handed over.
  t.Receive(T(0), From("pg1", MsgType::kStepDown, 4), w);
  FailoverMsg h = From("pg1", MsgType::kHandoff, 4);
  h.target = "pg2";
  h.lsn = 950;
  Actions got = t.Receive(T(0), h, w);
  CHECK(got.send.empty());
  CHECK(t.Tick(T(100), w).send.empty());  // 800 < 950: waits
  w.pg.lsn = 950;
  Actions stood = t.Tick(T(200), w);
  CHECK(t.role() == Role::kPreCandidate);
  CHECK(SentTo(stood, "lb1", MsgType::kPreVoteRequest));
  Actions voting = Grant(t, T(210), MsgType::kPreVoteReply, "lb1", w);
  CHECK(t.role() == Role::kCandidate);
  CHECK(t.term() == 5);
  CHECK(SentTo(voting, "lb1", MsgType::kVoteRequest));

  // Never caught up within a lease: abandoned.
  Failover slow(Cfg("pg2"), DurableState{4, "pg1", "pg1", false});
  w.pg.lsn = 800;
  slow.Receive(T(0), h, w);
  CHECK(Logged(slow.Tick(T(6000), w), "abandoned: the WAL did not reach lsn 950"));
  CHECK(slow.role() == Role::kFollower);
}

// Found by the gossip simulation (seed 413): the target, waiting for its WAL, was told to
// stand by an operator (failover --to) in term 5 and lost; caught up later, it stood again
// "for the switchover" in term 6, on a handoff meant for term 5 only.
TEST_CASE("switchover: a handoff is dropped once another term began") {
  Failover t(Cfg("pg2"), DurableState{4, "pg1", "pg1", false});
  World w;
  w.pg = Replica(800);
  w.peers = {Pg("pg1", true, 950, false), Voter("lb1")};
  FailoverMsg h = From("pg1", MsgType::kHandoff, 4);
  h.target = "pg2";
  h.lsn = 950;
  t.Receive(T(0), From("pg1", MsgType::kStepDown, 4), w);
  t.Receive(T(0), h, w);
  t.Stand(T(100), "pg2", w);  // failover --to pg2 while it waits
  Grant(t, T(110), MsgType::kPreVoteReply, "lb1", w);
  REQUIRE(t.term() == 5);
  t.Tick(T(3500), w);  // no majority within the election timeout
  REQUIRE(t.role() == Role::kFollower);
  w.pg.lsn = 950;
  Actions later = t.Tick(T(3600), w);
  CHECK(later.send.empty());
  CHECK(t.role() == Role::kFollower);
  CHECK(t.term() == 5);
  CHECK(Logged(later, "abandoned: term 5 began meanwhile"));
}

TEST_CASE("a voter grants the switchover target once the old leader stepped down") {
  Failover v(Cfg("lb1"), DurableState{4, "pg1", "pg1", false});
  World w;
  // Gossip still shows pg1 as a writable primary, a moment behind.
  w.peers = {Pg("pg1", true, 950), Pg("pg2", false, 950)};
  v.Receive(T(0), From("pg1", MsgType::kLeaseRenew, 4), w);
  FailoverMsg req = From("pg2", MsgType::kVoteRequest, 5);
  req.timeline = 1;
  req.lsn = 950;
  Actions before = v.Receive(T(100), req, w);
  CHECK_FALSE(SentTo(before, "pg2", MsgType::kVoteReply)->granted);  // the lease runs
  v.Receive(T(200), From("pg1", MsgType::kStepDown, 4), w);
  Actions after = v.Receive(T(300), req, w);
  REQUIRE(SentTo(after, "pg2", MsgType::kVoteReply));
  CHECK(SentTo(after, "pg2", MsgType::kVoteReply)->granted);
}

TEST_CASE("failover --to: the node stands at once; the voters' rules still decide") {
  Failover t(Cfg("pg2"), DurableState{4, "", "pg1", false});
  World w;
  w.pg = Replica(800);
  w.pg.receiver_streaming = true;  // its own rules would keep it out
  w.peers = {Pg("pg1", true, 900), Voter("lb1")};
  CHECK(t.Tick(T(0), w).send.empty());
  Actions a = t.Stand(T(10), "pg2", w);
  CHECK(t.role() == Role::kPreCandidate);
  CHECK(SentTo(a, "lb1", MsgType::kPreVoteRequest));
  // Given on another node, it is passed on; a node with priority 0 refuses.
  Failover lb1(Cfg("lb1"), DurableState{4, "", "pg1", false});
  CHECK(SentTo(lb1.Stand(T(0), "pg2", w), "pg2", MsgType::kStand));
  Failover pg3(Cfg("pg3"), DurableState{4, "", "pg1", false});
  CHECK(Logged(pg3.Stand(T(0), "pg3", w), "refused: this node has priority 0"));
}

TEST_CASE("pause: no automatic election while paused; the highest version spreads") {
  Failover r(Cfg("pg2"), DurableState{4, "", "pg1", false});
  World w;
  w.pg = Replica(800);
  w.pg.receiver_streaming = false;  // lost the primary
  Peer pg1 = Pg("pg1", true, 900);
  pg1.alive = pg1.pg_up = pg1.pg_primary = false;
  pg1.dead = true;
  w.peers = {pg1, Voter("lb1")};
  Actions p = r.Pause(true, w);
  REQUIRE(p.durable);
  CHECK(p.durable->paused);
  CHECK(p.durable->pause_version == 1);
  CHECK(r.Tick(T(0), w).send.empty());  // the primary is dead, but paused
  CHECK(r.role() == Role::kFollower);
  // lb1 resumed later (a higher version): adopted from gossip, and pg2 stands.
  w.peers[1].pause_version = 2;
  w.peers[1].paused = false;
  Actions resumed = r.Tick(T(100), w);
  CHECK_FALSE(r.paused());
  CHECK(Logged(resumed, "resumed by an operator (learned from lb1)"));
  CHECK(r.role() == Role::kPreCandidate);
  // Pausing again outbids every version seen.
  CHECK(r.Pause(true, w).durable->pause_version == 3);
}

TEST_CASE("rejoin: asked for by the operator or auto_rejoin, once the leader is a primary") {
  FailoverConfig c = Cfg("pg1");
  Failover old(c, DurableState{5, "", "pg2", false});
  World w;
  w.pg = Primary(900);
  Peer pg2 = Pg("pg2", true, 1000);
  pg2.timeline = 2;
  w.peers = {pg2, Voter("lb1")};
  CHECK(old.Tick(T(0), w).fence);
  CHECK(old.needs_rejoin());
  CHECK_FALSE(old.Tick(T(100), w).rejoin);  // not without auto_rejoin
  CHECK(old.Rejoin(T(200), w).rejoin);
  Failover idle(c, DurableState{5, "", "pg2", false});
  CHECK(Logged(idle.Rejoin(T(0), World{}), "not a former primary"));

  c.auto_rejoin = true;
  Failover aut(c, DurableState{5, "", "pg2", false});
  CHECK(aut.Tick(T(0), w).rejoin);
  CHECK_FALSE(aut.Tick(T(100), w).rejoin);    // one at a time
  CHECK(aut.Tick(T(100 + 30000), w).rejoin);  // retried after rejoin_retry
  w.peers[0].pg_primary = w.peers[0].pg_writable = false;
  CHECK_FALSE(aut.Tick(T(100 + 70000), w).rejoin);  // nothing to follow
}

// Found by the simulation (oracle, seed 5): the switchover's target won, crashed before
// its promotion finished, and came back a replica of the fenced old primary: nobody could
// stand, and the old primary could neither rejoin (no primary to follow) nor be chosen.
TEST_CASE("failover --to a former primary whose successor never promoted") {
  Failover old(Cfg("pg1"), DurableState{5, "", "pg2", false});
  World w;
  w.pg = Primary(900);
  w.pg.writable = false;                            // fenced by the switchover
  w.peers = {Pg("pg2", false, 900), Voter("lb1")};  // pg2 back as a replica, timeline 1
  old.Tick(T(0), w);
  REQUIRE(old.needs_rejoin());
  CHECK(Logged(old.Rejoin(T(10), w), "keepwatch failover --to pg1"));
  Actions stood = old.Stand(T(20), "pg1", w);
  CHECK(old.role() == Role::kPreCandidate);
  REQUIRE(SentTo(stood, "lb1", MsgType::kPreVoteRequest));
  CHECK(SentTo(stood, "lb1", MsgType::kPreVoteRequest)->primary);
  // Once another member reports a later timeline, the old primary's WAL has diverged.
  Failover diverged(Cfg("pg1"), DurableState{5, "", "pg2", false});
  w.peers[0] = Pg("pg2", true, 1000);
  w.peers[0].timeline = 2;
  diverged.Tick(T(0), w);
  CHECK(Logged(diverged.Stand(T(20), "pg1", w), "refused: this node is a former primary"));
  CHECK(diverged.role() == Role::kFollower);
}

// Found in the namespace lab (switchover_and_back): asked to switch back right after the
// old primary's rejoin, the leader still saw it as a primary through gossip, refused,
// and the operator's command failed.
TEST_CASE("switchover: a target not yet seen as a replica is waited for up to a lease") {
  World w;
  Failover p = Leader(w);
  w.peers[0].pg_primary = true;  // gossip a probe behind: still the former primary
  Actions a = p.Switchover(T(100), "pg2", w);
  CHECK(Logged(a, "switchover to pg2 waits: its PostgreSQL is not a running replica"));
  CHECK_FALSE(a.fence);
  CHECK(p.role() == Role::kLeader);
  w.peers[0].pg_primary = false;  // now a replica
  Actions go = p.Tick(T(300), w);
  CHECK(go.fence);
  CHECK(go.handoff_to == "pg2");
  CHECK(p.role() == Role::kFollower);

  World w2;
  Failover q = Leader(w2);
  w2.peers[0].alive = false;
  q.Switchover(T(100), "pg2", w2);
  Actions r = q.Tick(T(2000), w2);  // renewals go on meanwhile
  const FailoverMsg* renew = SentTo(r, "lb1", MsgType::kLeaseRenew);
  REQUIRE(renew);
  Grant(q, T(2010), MsgType::kLeaseAck, "lb1", w2, renew->seq);
  CHECK(q.role() == Role::kLeader);
  CHECK(Logged(q.Tick(T(100 + 5000), w2), "switchover to pg2 refused: it is not alive"));
  CHECK(q.role() == Role::kLeader);
}
