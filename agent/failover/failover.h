// The failover decision: quorum votes, the leader lease, fencing and promotion, as a pure
// state machine (no sockets, no clocks, no files).  The protocol is specified in
// agent/failover/PROTOCOL.md; this header is its contract.
//
// Inputs: Tick(now, world) on every timer round, Receive(now, message, world) for each
// failover message, where `world` is what this node knows right now (its own PostgreSQL
// and the gossip view of the others).  Each returns Actions, which the caller carries out
// in order: first persist `durable` (if set) and only when that succeeded send the
// messages; then promote/fence/unfence.  A caller that cannot persist must drop the
// sends — a vote must never be answered before it is on disk.
//
// Not thread-safe: one owner thread drives it; ServesPrimary() may be read by others only
// through a published copy (see agent/failover/service.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/failover/state_file.h"
#include "agent/status.h"

namespace kw {

struct FailoverConfig {
  std::string self;
  std::vector<std::string> voters;      // configured voters (majority of these)
  std::map<std::string, int> priority;  // postgres members; 0 = never promote
  Duration lease = seconds(5);
  Duration drift_margin = milliseconds(500);     // voters add this to every lease they grant
  Duration renew_interval = seconds(1);          // the leader renews this often
  Duration election_timeout = seconds(2);        // a candidate retries after this (± 50%)
  Duration resend_interval = milliseconds(200);  // unanswered vote requests are resent
  FailoverMode mode = FailoverMode::kAuto;
  bool auto_rejoin = false;                    // a former primary rejoins by itself
  std::map<std::string, HostPort> pg_address;  // each member's PostgreSQL (rejoin source)
  Duration rejoin_retry = seconds(30);         // auto_rejoin tries again after this
  size_t Majority() const { return voters.size() / 2 + 1; }
  bool IsVoter(const std::string& n) const;
  int Priority(const std::string& n) const;
};

// The local PostgreSQL as the postgres check last saw it.
struct LocalPg {
  bool up = false;
  bool in_recovery = false;
  bool writable = false;  // not read-only (a readonly fence makes it false)
  bool receiver_streaming = false;
  uint64_t timeline = 0;
  uint64_t lsn = 0;  // primary: current; replica: received
};

// Another member as gossip sees it.
struct Peer {
  std::string name;
  bool alive = false;  // not suspected, not dead
  bool dead = false;   // declared dead
  bool pg_up = false;
  bool pg_primary = false;   // up and not in recovery
  bool pg_writable = false;  // a primary that takes writes (not fenced read-only)
  uint64_t timeline = 0;
  uint64_t lsn = 0;
  uint64_t term = 0;
  std::string leader;   // whom it believes leads `term`
  bool paused = false;  // its failover pause register
  uint64_t pause_version = 0;
};

struct World {
  LocalPg pg;
  std::vector<Peer> peers;  // every other configured member
  const Peer* Find(const std::string& name) const;
};

// kSwitchover: an operator asks the leader to hand over to `target`.  kHandoff: the
// leader, fenced, tells `target` to stand once its WAL reached `lsn`.  kStand: an operator
// asks `target` to stand for election now (failover --to).  kPreVoteRequest/Reply: "would
// you vote for me in term T?", answered without any change of state (PROTOCOL.md rule 3).
enum class MsgType : uint8_t {
  kVoteRequest = 1,
  kVoteReply,
  kLeaseRenew,
  kLeaseAck,
  kStepDown,
  kSwitchover,
  kHandoff,
  kStand,
  kPreVoteRequest,
  kPreVoteReply,
};

struct FailoverMsg {
  MsgType type = MsgType::kVoteRequest;
  uint64_t term = 0;
  std::string from;
  uint64_t seq = 0;       // renew/ack pairing
  uint64_t timeline = 0;  // (pre-)vote request: the candidate's WAL position
  uint64_t lsn = 0;
  bool primary = false;  // (pre-)vote request: the candidate's PostgreSQL is a primary
  bool granted = false;  // (pre-)vote reply / lease ack
  std::string reason;    // (pre-)vote reply: why not (for the candidate's log)
  std::string target;    // switchover / stand: the member to promote
};

struct Actions {
  std::optional<DurableState> durable;                    // persist first
  std::vector<std::pair<std::string, FailoverMsg>> send;  // then send (to member name)
  bool promote = false;                                   // promote the local PostgreSQL
  bool fence = false;                                     // run the fence action now
  bool unfence = false;           // lift a readonly fence (this node leads again)
  std::vector<std::string> log;   // decisions with their reasons
  bool elected = false;           // this round made this node leader
  bool election_started = false;  // this round began an election (a new term)
  bool vote_granted = false;      // this round granted a vote
  bool vote_refused = false;      // this round refused one
  bool prevote_refused = false;   // this round told a pre-candidate it would not vote
  // Switchover: once the fence is done, call HandoffReady with the final WAL position.
  std::string handoff_to;
  bool rejoin = false;  // rejoin the local PostgreSQL to the leader (a former primary)
};

// A pre-candidate asks whether the voters would elect it before it starts a new term; only
// a majority's yes makes it a candidate.
enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };

class Failover {
 public:
  Failover(FailoverConfig cfg, DurableState state);

  Actions Tick(TimePoint now, const World& w);
  Actions Receive(TimePoint now, const FailoverMsg& m, const World& w);
  // Voluntary step-down (local PostgreSQL down, or an operator's switchover).
  Actions StepDown(TimePoint now, const std::string& why);
  // The fence action failed (PostgreSQL was down, say): the local PostgreSQL is not
  // fenced, so a former primary found up again is fenced anew, at most once per election
  // timeout.
  void FenceFailed(TimePoint now);

  // Operator commands, given on this node (or forwarded to it by another member).
  // Switchover to `to`: the leader fences, then hands over (HandoffReady); elsewhere the
  // request is forwarded to the leader.
  Actions Switchover(TimePoint now, const std::string& to, const World& w);
  // The switchover's fence finished with the local WAL at `final_lsn`: release the voters
  // and tell the target to stand once it has caught up.  An error (the fence failed, the
  // position could not be read) abandons the switchover, logged with that reason.
  Actions HandoffReady(TimePoint now, const Result<uint64_t>& final_lsn);
  // failover --to `to`: `to` stands for election now, whatever its own rules say; the
  // voters' rules still decide (a leader with a valid lease keeps its voters).
  Actions Stand(TimePoint now, const std::string& to, const World& w);
  // keepwatch rejoin: asks for a rejoin when this node is a former primary.
  Actions Rejoin(TimePoint now, const World& w);
  // keepwatch pause/resume: no automatic election or rejoin while paused (an incumbent
  // primary still renews its lease and still fences when it loses it: safety never
  // pauses).  Spreads through gossip; the highest version wins.
  Actions Pause(bool paused, const World& w);
  bool paused() const { return state_.paused; }

  // 200 on /primary: leader, lease valid at `now`, PostgreSQL out of recovery and writable.
  bool ServesPrimary(TimePoint now, const LocalPg& pg) const;
  // Until when this node may serve as primary by its lease (its own clock): the lease end
  // while it leads with a lease, otherwise the epoch.
  TimePoint ServingUntil() const {
    return role_ == Role::kLeader && had_lease_ ? lease_until_ : TimePoint{};
  }
  Role role() const { return role_; }
  uint64_t term() const { return state_.term; }
  const std::string& leader() const { return state_.leader; }
  bool fenced() const { return fenced_; }
  // This node's PostgreSQL is a primary that lost the role to a higher term: it needs a
  // rejoin (pg_rewind and follow the new primary).
  bool needs_rejoin() const { return needs_rejoin_; }
  const DurableState& durable() const { return state_; }

 private:
  void AdoptTerm(uint64_t term, const std::string& leader, Actions& a);
  void BecomeFollower(const std::string& why, Actions& a);
  bool ShouldStandForElection(TimePoint now, const World& w, std::string* why) const;
  void LoseLeadership(TimePoint now, const World& w, const std::string& why, Actions& a);
  void StepDownInto(TimePoint now, const std::string& why, Actions& a);
  void Reply(const std::string& to, FailoverMsg m, Actions& a) const;
  // Standing is a pre-vote for the next term, then (on a majority) the election itself.
  void StartPreVote(TimePoint now, const World& w, const std::string& why, Actions& a);
  void StartElection(TimePoint now, const World& w, Actions& a);
  FailoverMsg StandRequest(MsgType t, uint64_t term, const World& w) const;
  void SendRenewals(TimePoint now, Actions& a);
  void SendVoteRequests(TimePoint now, Actions& a);
  std::string VoteRefusal(TimePoint now, const FailoverMsg& m, const World& w) const;
  bool RefuseVote(TimePoint now, const FailoverMsg& m, const World& w, Actions& a);
  void OnVoteRequest(TimePoint now, const FailoverMsg& m, const World& w, Actions& a);
  void OnPreVoteRequest(TimePoint now, const FailoverMsg& m, const World& w, Actions& a);
  // A (pre-)vote reply that is not a grant: a higher term is adopted, a reason logged once.
  void OnRefusal(const FailoverMsg& m, Actions& a);
  void OnVoteReply(TimePoint now, const FailoverMsg& m, const World& w, Actions& a);
  void OnPreVoteReply(TimePoint now, const FailoverMsg& m, const World& w, Actions& a);
  void OnLeaseRenew(TimePoint now, const FailoverMsg& m, Actions& a);
  void OnLeaseAck(const FailoverMsg& m);
  void SwitchoverInto(TimePoint now, const std::string& to, const World& w, Actions& a);
  void OnHandoff(TimePoint now, const FailoverMsg& m, const World& w, Actions& a);
  void TickHandoff(TimePoint now, const World& w, Actions& a);
  void AskRejoin(TimePoint now, const World& w, Actions& a);
  // Some member reported a later timeline than the local PostgreSQL's: a promotion
  // happened after this node led, so its WAL has diverged or is behind.
  bool Superseded(const World& w) const;
  Duration ElectionBackoff();

  FailoverConfig cfg_;
  DurableState state_;
  Role role_ = Role::kFollower;
  bool fenced_ = false;
  TimePoint fence_retry_at_{};    // after a failed fence
  TimePoint unfence_retry_at_{};  // a leader lifts a read-only setting at most this often
  bool needs_rejoin_ = false;
  // Until the node has seen the cluster's term (fresh state), it does not vote.
  bool term_known_;
  TimePoint started_{};
  bool have_started_ = false;

  // As a voter: the lease granted to granted_to_ runs until this instant.
  TimePoint granted_until_{};
  std::string granted_to_;
  // As a pre-candidate or candidate.
  std::set<std::string> votes_;
  FailoverMsg vote_request_;  // resent to the voters that have not granted yet
  std::string stand_why_;
  std::map<std::string, std::string> refusals_;  // last reason each voter gave (logged once)
  TimePoint next_resend_{};
  TimePoint election_deadline_{};
  uint64_t backoff_seed_ = 0;
  // As the leader.
  TimePoint lease_until_{};
  TimePoint won_at_{};
  bool had_lease_ = false;
  TimePoint next_renew_{};
  uint64_t renew_seq_ = 0;
  struct Pending {
    TimePoint sent;
    std::set<std::string> acks;
  };
  std::map<uint64_t, Pending> pending_;
  // Switchover, on the leader: a request waiting for its target until switchover_until_.
  std::string pending_switchover_;
  TimePoint switchover_until_{};
  // Switchover, on the old leader: handing over to handoff_to_ in handoff_term_.
  std::string handoff_to_;
  uint64_t handoff_term_ = 0;
  // Switchover, on the target: stand in handoff_from_term_ + 1 once the WAL reached
  // handoff_lsn_, until handoff_until_.
  std::string handoff_from_;
  uint64_t handoff_from_term_ = 0;
  uint64_t handoff_lsn_ = 0;
  TimePoint handoff_until_{};
  TimePoint next_rejoin_{};
  // The leader of the current term stepped down after fencing (its StepDown, or this node).
  std::string released_by_;
  uint64_t released_term_ = 0;
};

const char* RoleName(Role r);

}  // namespace kw
