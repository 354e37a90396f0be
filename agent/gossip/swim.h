// The SWIM + Lifeguard membership state machine.  Pure: it never reads a clock, touches
// a socket or sleeps.  The caller (transport.h on real UDP, the simulation in tests)
// feeds it the time and authenticated messages, and carries out what it returns.
//
//   Swim swim(config, "odoo1", members, seed, now, state_version);
//   loop: swim.Tick(now, out); for each datagram: swim.Receive(now, msg, out);
//         send out.sends, publish out.events; sleep until swim.NextWakeup().
//
// Behaviour (memberlist/Lifeguard semantics):
// - Each probe period one member is pinged, round-robin over a list reshuffled after
//   every pass, except that every other period goes to a suspect when there is one (dead members
//   are skipped: they are retried by push-pull every reconnect_interval).  No ack within
//   probe_timeout → ping-req through indirect_checks others, who relay the ack or answer nack.  No
//   ack by the end of the period → the member is suspected.
// - Claims carry incarnations.  Alive(i) overrides Suspect/Alive(j) when i > j;
//   Suspect(i) overrides Alive(j) when i >= j; Dead(i) overrides both when i >= j.  Only
//   a member raises its own incarnation, to refute a suspicion or death claim about it.
//   A Dead claim from another member only starts (or confirms) a suspicion here: each
//   member declares death by its own timer (so a healed minority's stale verdicts cannot
//   kill live members before they refute).  A stale
//   claim against us (older incarnation) makes us re-announce our current Alive, so an
//   accuser that missed the refutation hears it again before its timeout.
// - Suspicion timeouts shrink with independent confirmations (suspicion.h); a member's
//   local health score (awareness) scales its own probe period and timeout.
// - A message to a member we suspect (or think dead) carries that claim first, so it
//   can refute at once (buddy system).  Updates piggyback on every message, each sent
//   retransmit_mult * ceil(log10(n + 1)) times; a gossip message carries them to
//   gossip_nodes members every gossip_interval while any are queued; every
//   push_pull_interval the whole state is exchanged with one member.
// - If Tick()/Receive() see the clock jump by more than probe_interval since the last
//   call, this process was paused: the running probe is abandoned without suspicion and
//   suspicion deadlines move by the gap (nobody could refute to us while we slept).
// - A member that has heard from nobody for 3 probe intervals is probably the one cut
//   off: its suspicion timers stand still (as during a pause) until it hears someone,
//   so its stale verdicts do not spread when the cut heals.  A last survivor therefore
//   shows the others as suspect, not dead: it cannot tell.
// - Acks carry the target's Alive(incarnation), so a prober that missed a refutation
//   (say behind a one-way cut, hearing the target only through ping-req) learns it.
//
// Membership is the static list given to the constructor; Receive() ignores a message
// whose sender is not in it.  Not thread-safe: one owner thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/gossip/broadcast.h"
#include "agent/gossip/suspicion.h"
#include "agent/gossip/wire.h"

namespace kw::gossip {

struct SwimConfig {
  Duration probe_interval = seconds(1);
  Duration probe_timeout = milliseconds(500);
  int indirect_checks = 3;
  int suspicion_mult = 4;
  int suspicion_max_mult = 6;
  int retransmit_mult = 4;
  Duration gossip_interval = milliseconds(200);
  int gossip_nodes = 3;
  Duration push_pull_interval = seconds(30);
  Duration reconnect_interval = seconds(10);
  int awareness_max = 8;
};

struct Send {
  std::string to;
  Message msg;  // sender filled; epoch/seq left to the transport
};

struct MemberEvent {
  std::string member;
  MemberStatus from;
  MemberStatus to;
  uint64_t incarnation;
};

struct Delivered {  // a user payload received from a member
  std::string from;
  std::string payload;
};

struct Output {
  std::vector<Send> sends;
  std::vector<MemberEvent> events;
  std::vector<Delivered> delivered;
  void Clear() {
    sends.clear();
    events.clear();
    delivered.clear();
  }
};

struct MemberView {
  std::string name;
  bool self = false;
  MemberStatus status = MemberStatus::kAlive;
  uint64_t incarnation = 0;
  TimePoint status_since{};
  std::optional<TimePoint> last_heard;  // last message received from it
  NodeState state;
};

struct SwimCounters {
  uint64_t probes = 0;           // probes started
  uint64_t probe_failures = 0;   // periods that ended without an ack
  uint64_t indirect_probes = 0;  // ping-req sent
  uint64_t suspicions = 0;       // members newly suspected (by anyone, seen here)
  uint64_t refutations = 0;      // times we raised our incarnation
  uint64_t deaths = 0;           // members newly marked dead here
  uint64_t pauses = 0;           // clock jumps detected
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
  uint64_t ignored = 0;  // from unknown senders, or misaddressed
};

class Swim {
 public:
  // `members` lists every configured member, self included.  `state_version` seeds the
  // version of our node state (the transport passes wall-clock microseconds so a
  // restarted member's state is newer than anything it said before).
  Swim(const SwimConfig& config, std::string self, const std::vector<std::string>& members,
       uint64_t seed, TimePoint now, uint64_t state_version = 1);

  // Fires every timer due at `now`.
  void Tick(TimePoint now, Output& out);
  // Handles one authenticated, decoded message.
  void Receive(TimePoint now, const Message& msg, Output& out);
  // The earliest time Tick() has something to do (never more than gossip_interval away).
  TimePoint NextWakeup() const;

  // Sends an opaque payload (the failover layer's messages) to a member, with piggybacked
  // updates.  False when `to` is not a member or the payload cannot fit one datagram.
  bool SendUser(const std::string& to, std::string payload, Output& out);

  // Replaces our node state (its version is assigned here) and disseminates it; a state
  // equal to the current one (version aside) changes nothing.
  void SetLocalState(const NodeState& state);

  bool IsMember(const std::string& name) const { return index_.count(name) != 0; }
  const std::string& self() const { return self_; }
  std::vector<MemberView> Members() const;
  const MemberView* Find(const std::string& name) const;
  int awareness() const { return awareness_.score(); }
  uint64_t incarnation() const { return Self().view.incarnation; }
  const SwimCounters& counters() const { return counters_; }
  // Suspicion bounds for this cluster size, for tests and documentation.
  Duration suspicion_min() const { return suspicion_min_; }
  Duration suspicion_max() const { return suspicion_min_ * config_.suspicion_max_mult; }
  int retransmit_limit() const { return retransmit_limit_; }

 private:
  struct Member {
    MemberView view;
    std::unique_ptr<Suspicion> suspicion;
    uint64_t suspicion_incarnation = 0;
    TimePoint last_probed{};
  };
  struct Probe {
    std::string target;
    uint32_t id = 0;
    TimePoint started{};
    TimePoint timeout{};  // ping-req goes out then
    TimePoint end{};      // the period ends: ack or suspicion
    bool acked = false;
    bool indirect_sent = false;
    int expected_nacks = 0;
    int nacks = 0;
  };
  struct Relay {  // a ping we send on behalf of a ping-req
    std::string origin;
    uint32_t origin_probe = 0;
    std::string target;
    TimePoint nack_at{};
    TimePoint expires{};
    bool nacked = false;
  };

  Member& Self() { return members_[index_.at(self_)]; }
  const Member& Self() const { return members_.at(index_.at(self_)); }
  Member* Get(const std::string& name);
  void Advance(TimePoint now);
  void StartProbe(TimePoint now, Output& out);
  void FinishProbe(TimePoint now, Output& out);
  void SendIndirect(TimePoint now, Output& out);
  void Gossip(Output& out);
  void PushPull(TimePoint now, const std::string& to, bool reply, Output& out);
  void MergeRecords(TimePoint now, const Message& msg, Output& out);
  void ApplyUpdate(TimePoint now, const Update& u, Output& out);
  void OnAlive(TimePoint now, const std::string& member, uint64_t inc, Output& out);
  void OnSuspect(TimePoint now, const std::string& member, uint64_t inc, const std::string& from,
                 Output& out, bool confirm = true);
  void OnDead(TimePoint now, const std::string& member, uint64_t inc, const std::string& from,
              Output& out);
  void OnState(const std::string& member, const NodeState& state);
  Message AckMsg(uint32_t probe, const std::string& target);
  // Our suspect/dead claim about a member, or nothing when we think it alive.
  std::optional<Update> ClaimAbout(const std::string& name);
  bool Isolated(TimePoint now) const;
  void Refute(uint64_t accused);
  void Reannounce();
  void SetStatus(TimePoint now, Member& m, MemberStatus s, uint64_t inc, Output& out);
  // Queues msg to `to` with as many piggybacked updates as fit.
  void Emit(const std::string& to, Message msg, Output& out);
  std::vector<std::string> Pick(int k, const std::vector<std::string>& exclude,
                                bool include_suspect);
  uint64_t Rand(uint64_t n) { return n == 0 ? 0 : rng_() % n; }

  SwimConfig config_;
  std::string self_;
  std::vector<Member> members_;
  std::map<std::string, size_t> index_;
  std::mt19937_64 rng_;
  Awareness awareness_;
  BroadcastQueue queue_;
  Duration suspicion_min_;
  int retransmit_limit_;
  int suspicion_k_;

  std::vector<std::string> probe_order_;
  size_t probe_pos_ = 0;
  std::optional<Probe> probe_;
  TimePoint next_probe_{};
  uint32_t next_probe_id_ = 1;
  std::map<uint32_t, Relay> relays_;
  TimePoint next_gossip_{};
  TimePoint next_push_pull_{};
  TimePoint next_reconnect_{};
  TimePoint last_call_{};
  TimePoint started_{};
  bool joined_ = false;
  bool suspect_turn_ = false;
  bool frozen_ = false;                          // isolated at the last call
  std::map<std::string, TimePoint> last_reply_;  // push-pull replies, rate limit
  SwimCounters counters_;
};

}  // namespace kw::gossip
