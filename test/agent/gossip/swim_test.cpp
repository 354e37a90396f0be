#include "agent/gossip/swim.h"

#include <doctest/doctest.h>

using namespace kw;
using namespace kw::gossip;

namespace {

const TimePoint kT0 = TimePoint{} + seconds(1000);
const std::vector<std::string> kFive = {"a", "b", "c", "d", "e"};

Message From(const std::string& sender, std::vector<Update> updates,
             MsgType type = MsgType::kGossip) {
  Message m;
  m.type = type;
  m.sender = sender;
  m.updates = std::move(updates);
  return m;
}

Update Claim(UpdateKind kind, const std::string& member, uint64_t inc, const std::string& from) {
  return Update{kind, member, inc, from, {}};
}

MemberStatus StatusOf(const Swim& s, const std::string& name) { return s.Find(name)->status; }

// Every update the swim piggybacks on its next message to `to`.
std::vector<Update> NextPiggyback(Swim& s, const std::string& to, TimePoint now) {
  Output out;
  Message ping;
  ping.type = MsgType::kPing;
  ping.sender = to;
  ping.probe = 7;
  ping.target = s.self();
  s.Receive(now, ping, out);
  for (const Send& send : out.sends)
    if (send.to == to && send.msg.type == MsgType::kAck) return send.msg.updates;
  return {};
}

bool Has(const std::vector<Update>& us, UpdateKind kind, const std::string& member, uint64_t inc) {
  for (const Update& u : us)
    if (u.kind == kind && u.member == member && u.incarnation == inc) return true;
  return false;
}

}  // namespace

TEST_CASE("gossip swim: alive/suspect/dead precedence by incarnation") {
  Swim s(SwimConfig{}, "a", kFive, 1, kT0);
  Output out;
  auto feed = [&](Update u) { s.Receive(kT0, From("b", {u}), out); };

  feed(Claim(UpdateKind::kSuspect, "c", 0, "b"));
  CHECK(StatusOf(s, "c") == MemberStatus::kSuspect);
  REQUIRE(out.events.size() == 1);
  CHECK(out.events[0].to == MemberStatus::kSuspect);
  feed(Claim(UpdateKind::kAlive, "c", 0, "c"));  // Alive(i) needs i > j
  CHECK(StatusOf(s, "c") == MemberStatus::kSuspect);
  feed(Claim(UpdateKind::kAlive, "c", 1, "c"));
  CHECK(StatusOf(s, "c") == MemberStatus::kAlive);
  CHECK(s.Find("c")->incarnation == 1);
  feed(Claim(UpdateKind::kSuspect, "c", 0, "b"));  // stale suspicion
  CHECK(StatusOf(s, "c") == MemberStatus::kAlive);
  feed(Claim(UpdateKind::kSuspect, "c", 1, "b"));  // Suspect(i) beats Alive(j) when i >= j
  CHECK(StatusOf(s, "c") == MemberStatus::kSuspect);
  // A death claim from elsewhere only suspects (and confirms): our own timer decides.
  feed(Claim(UpdateKind::kDead, "c", 1, "d"));
  CHECK(StatusOf(s, "c") == MemberStatus::kSuspect);
  for (TimePoint t = kT0; t <= kT0 + seconds(25); t += milliseconds(100)) {
    Output o;
    s.Tick(t, o);
    // Everyone but c answers (so nobody else is suspected, and we are never cut off).
    for (const Send& send : o.sends)
      if (send.msg.type == MsgType::kPing && send.to != "c") {
        Message ack;
        ack.type = MsgType::kAck;
        ack.sender = send.to;
        ack.probe = send.msg.probe;
        ack.target = send.to;
        s.Receive(t, ack, o);
      }
    s.Receive(t, From("b", {}), o);
    for (const MemberEvent& e : o.events) out.events.push_back(e);
  }
  CHECK(StatusOf(s, "c") == MemberStatus::kDead);  // Dead beats both
  CHECK(s.Find("c")->incarnation == 1);
  feed(Claim(UpdateKind::kAlive, "c", 1, "c"));
  CHECK(StatusOf(s, "c") == MemberStatus::kDead);
  feed(Claim(UpdateKind::kSuspect, "c", 5, "b"));  // nothing but Alive(i > j) revives
  CHECK(StatusOf(s, "c") == MemberStatus::kDead);
  feed(Claim(UpdateKind::kAlive, "c", 2, "c"));
  CHECK(StatusOf(s, "c") == MemberStatus::kAlive);
  feed(Claim(UpdateKind::kDead, "c", 1, "b"));  // older death
  CHECK(StatusOf(s, "c") == MemberStatus::kAlive);
  int c_events = 0;
  for (const MemberEvent& e : out.events) c_events += e.member == "c";
  CHECK(c_events == 5);

  // Claims about or from strangers change nothing.
  feed(Claim(UpdateKind::kDead, "zed", 9, "b"));
  feed(Claim(UpdateKind::kDead, "d", 9, "zed"));
  CHECK(StatusOf(s, "d") == MemberStatus::kAlive);
  s.Receive(kT0, From("zed", {Claim(UpdateKind::kDead, "d", 9, "b")}), out);
  CHECK(StatusOf(s, "d") == MemberStatus::kAlive);
  CHECK(s.counters().ignored == 1);
}

TEST_CASE("gossip swim: a suspected member refutes with a higher incarnation") {
  Swim s(SwimConfig{}, "a", kFive, 1, kT0);
  Output out;
  s.Receive(kT0, From("b", {Claim(UpdateKind::kSuspect, "a", 0, "b")}), out);
  CHECK(s.incarnation() == 1);
  CHECK(s.awareness() == 1);  // being suspected is a hint that we are the slow one
  CHECK(s.counters().refutations == 1);
  CHECK(Has(NextPiggyback(s, "c", kT0), UpdateKind::kAlive, "a", 1));
  // A stale suspicion is not refuted again; a death claim is.
  s.Receive(kT0, From("b", {Claim(UpdateKind::kSuspect, "a", 0, "b")}), out);
  CHECK(s.incarnation() == 1);
  s.Receive(kT0, From("b", {Claim(UpdateKind::kDead, "a", 6, "b")}), out);
  CHECK(s.incarnation() == 7);
  // Someone remembers us alive at a later incarnation (our previous run).
  s.Receive(kT0, From("b", {Claim(UpdateKind::kAlive, "a", 9, "a")}), out);
  CHECK(s.incarnation() == 10);
}

TEST_CASE("gossip swim: suspicion timeout shrinks with independent confirmations") {
  CHECK(SuspicionMin(4, 6, seconds(1)) == seconds(4));
  CHECK(SuspicionMin(4, 1, seconds(1)) == seconds(4));
  CHECK(ToMillis(SuspicionMin(4, 16, seconds(1))) == 4816);
  CHECK(SuspicionMin(4, 100, seconds(1)) == seconds(8));

  Suspicion sus("b", 2, seconds(4), seconds(24), kT0);
  CHECK(sus.Timeout() == seconds(24));
  CHECK_FALSE(sus.Confirm("b"));  // the accuser cannot confirm itself
  CHECK(sus.Confirm("c"));
  CHECK_FALSE(sus.Confirm("c"));
  CHECK(ToMillis(sus.Timeout()) == 11381);  // 24 - 20 * log(2)/log(3)
  CHECK(sus.Confirm("d"));
  CHECK(sus.Timeout() == seconds(4));
  CHECK_FALSE(sus.Confirm("e"));  // k reached
  CHECK(sus.Deadline() == kT0 + seconds(4));
  Suspicion none("b", 0, seconds(4), seconds(24), kT0);
  CHECK(none.Timeout() == seconds(4));

  // In the state machine: suspected at t0, two confirmations → dead at t0 + min.
  Swim s(SwimConfig{}, "a", kFive, 1, kT0);
  CHECK(s.suspicion_min() == seconds(4));
  CHECK(s.suspicion_max() == seconds(24));
  Output out;
  s.Tick(kT0, out);
  s.Receive(kT0, From("b", {Claim(UpdateKind::kSuspect, "c", 0, "b")}), out);
  s.Receive(kT0 + seconds(1), From("d", {Claim(UpdateKind::kSuspect, "c", 0, "d")}), out);
  CHECK(Has(NextPiggyback(s, "e", kT0 + seconds(1)), UpdateKind::kSuspect, "c", 0));
  // Keep the clock moving (no pause detected) and ack every probe so nobody else fails.
  auto run_until = [&](TimePoint end) {
    for (TimePoint t = kT0 + seconds(1); t <= end; t += milliseconds(100)) {
      out.Clear();
      s.Tick(t, out);
      for (const Send& send : out.sends)
        if (send.msg.type == MsgType::kPing && send.to != "c") {
          Message ack;
          ack.type = MsgType::kAck;
          ack.sender = send.to;
          ack.probe = send.msg.probe;
          ack.target = send.to;
          s.Receive(t, ack, out);
        }
    }
  };
  run_until(kT0 + seconds(2));
  s.Receive(kT0 + seconds(2), From("e", {Claim(UpdateKind::kSuspect, "c", 0, "e")}), out);
  run_until(kT0 + milliseconds(3900));
  CHECK(StatusOf(s, "c") == MemberStatus::kSuspect);
  run_until(kT0 + milliseconds(4100));
  CHECK(StatusOf(s, "c") == MemberStatus::kDead);
}

TEST_CASE("gossip swim: a probe with no ack goes indirect, then suspects, raising awareness") {
  SwimConfig cfg;
  Swim s(cfg, "a", kFive, 3, kT0);
  Output out;
  std::string target;
  uint32_t probe = 0;
  TimePoint t = kT0;
  for (int i = 0; i < 20 && target.empty(); ++i, t += milliseconds(100)) {
    out.Clear();
    s.Tick(t, out);
    for (const Send& send : out.sends)
      if (send.msg.type == MsgType::kPing) {
        target = send.to;
        probe = send.msg.probe;
      }
  }
  REQUIRE_FALSE(target.empty());
  TimePoint started = t - milliseconds(100);
  std::vector<std::string> helpers;
  for (; t < started + seconds(1) && helpers.empty(); t += milliseconds(100)) {
    out.Clear();
    s.Tick(t, out);
    for (const Send& send : out.sends)
      if (send.msg.type == MsgType::kPingReq) {
        CHECK(send.msg.target == target);
        CHECK(send.msg.probe == probe);
        helpers.push_back(send.to);
      }
  }
  CHECK(helpers.size() == 3);
  CHECK(t - started >= milliseconds(500));
  // One helper says it could not reach the target either; two stay silent.
  Message nack;
  nack.type = MsgType::kNack;
  nack.sender = helpers[0];
  nack.probe = probe;
  nack.target = target;
  s.Receive(t, nack, out);
  for (; t <= started + milliseconds(1100); t += milliseconds(100)) s.Tick(t, out);
  CHECK(StatusOf(s, target) == MemberStatus::kSuspect);
  CHECK(s.awareness() == 2);  // 3 expected nacks, 1 received
  CHECK(s.counters().probe_failures == 1);
  // The next probe (to the suspect: every other period goes to one) comes a period
  // later that is three times longer.
  out.Clear();
  TimePoint next_start;
  for (int i = 0; i < 30; ++i, t += milliseconds(100)) {
    s.Tick(t, out);
    bool pinged = false;
    for (const Send& send : out.sends)
      if (send.msg.type == MsgType::kPing) pinged = true;
    if (pinged) {
      next_start = t;
      break;
    }
    out.Clear();
  }
  REQUIRE(next_start != TimePoint{});
  // Awareness 2 scales the probe timeout to 1.5 s: no ping-req before then.
  for (t = next_start + milliseconds(100); t < next_start + milliseconds(1500);
       t += milliseconds(100)) {
    out.Clear();
    s.Tick(t, out);
    for (const Send& send : out.sends) CHECK(send.msg.type != MsgType::kPingReq);
  }
  Awareness aw(8);
  aw.Apply(-3);
  CHECK(aw.score() == 0);
  aw.Apply(20);
  CHECK(aw.score() == 8);
  CHECK(aw.Scale(seconds(1)) == seconds(9));
}

TEST_CASE("gossip swim: ping-req relays the ack, or nacks in time") {
  Swim c(SwimConfig{}, "c", kFive, 5, kT0);
  Output out;
  Message req;
  req.type = MsgType::kPingReq;
  req.sender = "a";
  req.probe = 41;
  req.target = "b";
  c.Receive(kT0, req, out);
  REQUIRE(out.sends.size() == 1);
  CHECK(out.sends[0].to == "b");
  CHECK(out.sends[0].msg.type == MsgType::kPing);
  Message ack;
  ack.type = MsgType::kAck;
  ack.sender = "b";
  ack.probe = out.sends[0].msg.probe;
  ack.target = "b";
  out.Clear();
  c.Receive(kT0 + milliseconds(10), ack, out);
  REQUIRE(out.sends.size() == 1);
  CHECK(out.sends[0].to == "a");
  CHECK(out.sends[0].msg.type == MsgType::kAck);
  CHECK(out.sends[0].msg.probe == 41);
  CHECK(out.sends[0].msg.target == "b");

  out.Clear();
  req.probe = 42;
  c.Receive(kT0 + milliseconds(20), req, out);
  out.Clear();
  c.Tick(kT0 + milliseconds(420), out);
  bool nacked = false;
  for (const Send& s : out.sends)
    if (s.msg.type == MsgType::kNack && s.to == "a" && s.msg.probe == 42) nacked = true;
  CHECK(nacked);
  // A ping for someone else (a stale address) is not answered.
  out.Clear();
  Message ping;
  ping.type = MsgType::kPing;
  ping.sender = "a";
  ping.target = "d";
  c.Receive(kT0 + milliseconds(430), ping, out);
  CHECK(out.sends.empty());
}

TEST_CASE("gossip swim: the buddy system tells a suspect first") {
  Swim s(SwimConfig{}, "a", kFive, 1, kT0);
  Output out;
  s.Receive(kT0, From("b", {Claim(UpdateKind::kSuspect, "c", 3, "b")}), out);
  std::vector<Update> ups = NextPiggyback(s, "c", kT0);
  REQUIRE_FALSE(ups.empty());
  CHECK(ups[0].kind == UpdateKind::kSuspect);
  CHECK(ups[0].member == "c");
  CHECK(ups[0].incarnation == 3);
  // c refutes on that message; everyone who hears Alive(4) clears the suspicion.
  Swim c(SwimConfig{}, "c", kFive, 2, kT0);
  Message m = From("a", ups);
  c.Receive(kT0, m, out);
  CHECK(c.incarnation() == 4);
  s.Receive(kT0, From("c", NextPiggyback(c, "a", kT0)), out);
  CHECK(StatusOf(s, "c") == MemberStatus::kAlive);
  CHECK(s.Find("c")->incarnation == 4);
}

TEST_CASE("gossip swim: node state versions, newer wins, ours re-announced above stale") {
  Swim s(SwimConfig{}, "a", kFive, 1, kT0, 1000);
  Output out;
  NodeState st;
  st.version = 5;
  st.role = PgRole::kPrimary;
  st.term = 3;
  s.Receive(kT0, From("b", {Update{UpdateKind::kState, "b", 0, "b", st}}), out);
  CHECK(s.Find("b")->state.role == PgRole::kPrimary);
  NodeState old = st;
  old.version = 4;
  old.role = PgRole::kReplica;
  s.Receive(kT0, From("c", {Update{UpdateKind::kState, "b", 0, "c", old}}), out);
  CHECK(s.Find("b")->state.role == PgRole::kPrimary);
  NodeState mine;
  mine.role = PgRole::kReplica;
  mine.received_lsn = 0x3000060;
  s.SetLocalState(mine);
  CHECK(s.Find("a")->state.version == 1001);
  CHECK(s.Find("a")->state.received_lsn == 0x3000060);
  NodeState ghost;  // what we said in a previous run, still circulating
  ghost.version = 5000;
  s.Receive(kT0, From("c", {Update{UpdateKind::kState, "a", 0, "c", ghost}}), out);
  CHECK(s.Find("a")->state.version == 5001);
  CHECK(s.Find("a")->state.received_lsn == 0x3000060);
}

TEST_CASE("gossip swim: push-pull merges a full view and treats remote deaths as suspicion") {
  Swim s(SwimConfig{}, "a", kFive, 1, kT0);
  Output out;
  Message pp;
  pp.type = MsgType::kPushPull;
  pp.sender = "b";
  pp.records = {Record{"a", MemberStatus::kDead, 2, {}}, Record{"c", MemberStatus::kDead, 1, {}},
                Record{"d", MemberStatus::kAlive, 3, {}}};
  s.Receive(kT0, pp, out);
  CHECK(s.incarnation() == 3);
  CHECK(StatusOf(s, "c") == MemberStatus::kSuspect);
  CHECK(StatusOf(s, "d") == MemberStatus::kAlive);
  CHECK(s.Find("d")->incarnation == 3);
  bool replied = false;
  for (const Send& send : out.sends)
    if (send.to == "b" && send.msg.type == MsgType::kPushPull && send.msg.reply) {
      replied = true;
      CHECK(send.msg.records.size() == 5);
    }
  CHECK(replied);
}

TEST_CASE("gossip swim: a paused process abandons its probe and postpones suspicions") {
  Swim s(SwimConfig{}, "a", kFive, 1, kT0);
  Output out;
  s.Tick(kT0, out);
  s.Receive(kT0, From("b", {Claim(UpdateKind::kSuspect, "c", 0, "b")}), out);
  // 30 s without running (SIGSTOP): longer than the 24 s suspicion, but c could not
  // have refuted to us meanwhile.
  out.Clear();
  s.Tick(kT0 + seconds(30), out);
  CHECK(s.counters().pauses == 1);
  CHECK(StatusOf(s, "c") == MemberStatus::kSuspect);
  for (const MemberEvent& e : out.events) CHECK(e.to != MemberStatus::kDead);
}
