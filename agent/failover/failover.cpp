#include "agent/failover/failover.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "agent/units.h"

namespace kw {

bool FailoverConfig::IsVoter(const std::string& n) const {
  return std::find(voters.begin(), voters.end(), n) != voters.end();
}

int FailoverConfig::Priority(const std::string& n) const {
  auto it = priority.find(n);
  return it == priority.end() ? 0 : it->second;
}

const Peer* World::Find(const std::string& name) const {
  for (const Peer& p : peers)
    if (p.name == name) return &p;
  return nullptr;
}

const char* RoleName(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

namespace {

std::string Ms(Duration d) { return std::to_string(ToMillis(d)) + "ms"; }

FailoverMsg Msg(MsgType t, uint64_t term, const std::string& from) {
  FailoverMsg m;
  m.type = t;
  m.term = term;
  m.from = from;
  return m;
}

// WAL position order: timeline first (a promoted node's history wins), then LSN.
auto Position(uint64_t timeline, uint64_t lsn) { return std::make_tuple(timeline, lsn); }

}  // namespace

Failover::Failover(FailoverConfig cfg, DurableState state)
    : cfg_(std::move(cfg)), state_(std::move(state)), term_known_(!state_.fresh) {
  for (char c : cfg_.self) backoff_seed_ = backoff_seed_ * 131 + static_cast<unsigned char>(c);
}

Duration Failover::ElectionBackoff() {
  // xorshift: deterministic per node (simulations replay), different across nodes.
  backoff_seed_ ^= backoff_seed_ << 13;
  backoff_seed_ ^= backoff_seed_ >> 7;
  backoff_seed_ ^= backoff_seed_ << 17;
  double f = 0.5 + static_cast<double>(backoff_seed_ % 1000) / 1000.0;  // 0.5 .. 1.5
  return std::chrono::duration_cast<Duration>(cfg_.election_timeout * f);
}

void Failover::Reply(const std::string& to, FailoverMsg m, Actions& a) const {
  a.send.emplace_back(to, std::move(m));
}

void Failover::AdoptTerm(uint64_t term, const std::string& leader, Actions& a) {
  if (term < state_.term) return;
  if (term > state_.term) {
    state_.term = term;
    state_.voted_for.clear();
    state_.leader = leader;
  } else if (state_.leader.empty()) {
    state_.leader = leader;
  } else {
    return;
  }
  state_.fresh = false;
  a.durable = state_;
}

void Failover::LoseLeadership(TimePoint now, const World& w, const std::string& why, Actions& a) {
  bool was_leader = role_ == Role::kLeader;
  role_ = Role::kFollower;
  pending_switchover_.clear();
  lease_until_ = std::min(lease_until_, now);
  pending_.clear();
  votes_.clear();
  if (was_leader && w.pg.up && !w.pg.in_recovery && !fenced_) {
    a.fence = true;
    fenced_ = true;
  }
  if (was_leader)
    a.log.push_back("term " + std::to_string(state_.term) + ": no longer leader: " + why);
}

void Failover::BecomeFollower(const std::string& why, Actions& a) {
  if (role_ == Role::kCandidate || role_ == Role::kPreCandidate)
    a.log.push_back("term " + std::to_string(state_.term) + ": " +
                    (role_ == Role::kPreCandidate ? "pre-vote" : "candidacy") + " ends: " + why);
  role_ = Role::kFollower;
  votes_.clear();
}

bool Failover::ShouldStandForElection(TimePoint now, const World& w, std::string* why) const {
  if (cfg_.mode != FailoverMode::kAuto || !term_known_ || needs_rejoin_) return false;
  if (cfg_.Priority(cfg_.self) <= 0 || !w.pg.up) return false;
  if (now < election_deadline_) return false;  // backing off after a failed election
  // Anyone else holding or claiming the role right now keeps us out.
  for (const Peer& p : w.peers) {
    if (!p.alive || !p.pg_up || !p.pg_primary) continue;
    if (Position(p.timeline, 0) >= Position(w.pg.timeline, 0)) return false;
  }
  if (!w.pg.in_recovery) {
    // Our PostgreSQL is a primary without a lease: at start-up, after an agent restart,
    // or after a lost lease that nobody else took over.
    *why = "local PostgreSQL is a primary (timeline " + std::to_string(w.pg.timeline) +
           ") and holds no lease";
    return true;
  }
  if (state_.paused) return false;  // an operator's failover --to only
  // A replica stands only when the primary it knew is known to be gone: declared dead
  // by gossip, or alive with its PostgreSQL down.  Suspicion alone is not enough, and a
  // cluster where no primary was ever known needs an operator.
  const Peer* primary = w.Find(state_.leader);
  if (!primary) {
    for (const Peer& p : w.peers)
      if (p.pg_primary) primary = &p;
  }
  if (!primary) return false;
  if (primary->dead) {
    // Even while its PostgreSQL still streams to us: a frozen or crashed agent can
    // neither renew its lease nor answer HAProxy, which has dropped it, so writes stop
    // until someone leads.  The voters' lease rule keeps this safe: no vote is granted
    // before the old leader's last lease has run out.
    *why = "primary " + primary->name +
           (w.pg.receiver_streaming ? "'s agent is dead (its PostgreSQL still streams)"
                                    : " is dead and the WAL receiver lost it");
    return true;
  }
  if (w.pg.receiver_streaming) return false;  // the primary still sends us WAL
  if (primary->alive && !primary->pg_up) {
    *why = "PostgreSQL on primary " + primary->name + " is down and the WAL receiver lost it";
    return true;
  }
  return false;
}

// A (pre-)vote request carries the candidate's WAL position as it is now.
FailoverMsg Failover::StandRequest(MsgType t, uint64_t term, const World& w) const {
  FailoverMsg req = Msg(t, term, cfg_.self);
  req.timeline = w.pg.timeline;
  req.lsn = w.pg.lsn;
  req.primary = !w.pg.in_recovery;
  return req;
}

// A node that would stand asks first whether a majority would vote for it in the next
// term, and only then starts that term.  A node that cannot win — cut off, or facing voters
// that still hold a lease for a healthy leader — so never inflates its term, and a higher
// term it carries back after a partition heals cannot depose that leader.
void Failover::StartPreVote(TimePoint now, const World& w, const std::string& why, Actions& a) {
  role_ = Role::kPreCandidate;
  votes_.clear();
  refusals_.clear();
  stand_why_ = why;
  FailoverMsg req = StandRequest(MsgType::kPreVoteRequest, state_.term + 1, w);
  vote_request_ = req;
  election_deadline_ = now + ElectionBackoff();
  a.log.push_back("term " + std::to_string(req.term) + ": asking the voters for a pre-vote (" +
                  why + ")");
  if (cfg_.IsVoter(cfg_.self) && VoteRefusal(now, req, w).empty()) votes_.insert(cfg_.self);
  if (votes_.size() >= cfg_.Majority())
    StartElection(now, w, a);
  else
    SendVoteRequests(now, a);
}

void Failover::StartElection(TimePoint now, const World& w, Actions& a) {
  std::string granted;
  for (const auto& v : votes_) granted += (granted.empty() ? "" : ", ") + v;
  state_.term++;
  state_.leader.clear();
  state_.voted_for.clear();
  state_.fresh = false;
  role_ = Role::kCandidate;
  votes_.clear();
  refusals_.clear();
  FailoverMsg req = StandRequest(MsgType::kVoteRequest, state_.term, w);
  if (cfg_.IsVoter(cfg_.self) && VoteRefusal(now, req, w).empty()) {
    state_.voted_for = cfg_.self;
    votes_.insert(cfg_.self);
  }
  a.durable = state_;
  a.election_started = true;
  election_deadline_ = now + ElectionBackoff();
  a.log.push_back("term " + std::to_string(state_.term) + ": standing for election (" + stand_why_ +
                  "; pre-vote from " + granted + "), WAL at timeline " +
                  std::to_string(w.pg.timeline) + " lsn " + std::to_string(w.pg.lsn));
  vote_request_ = req;
  SendVoteRequests(now, a);
}

void Failover::SendVoteRequests(TimePoint now, Actions& a) {
  // Requests and grants are idempotent (a voter re-grants to the candidate it voted for),
  // so lost datagrams are simply sent again.
  for (const std::string& v : cfg_.voters)
    if (v != cfg_.self && !votes_.count(v)) a.send.emplace_back(v, vote_request_);
  next_resend_ = now + cfg_.resend_interval;
}

std::string Failover::VoteRefusal(TimePoint now, const FailoverMsg& m, const World& w) const {
  const std::string& c = m.from;
  if (!term_known_) return "fresh state: learning the cluster's term before voting";
  if (m.term < state_.term) return "stale term " + std::to_string(m.term);
  if (m.term == state_.term && !state_.voted_for.empty() && state_.voted_for != c)
    return "already voted for " + state_.voted_for + " in term " + std::to_string(m.term);
  if (cfg_.Priority(c) <= 0) return c + " has priority 0";
  if (role_ == Role::kLeader && c != cfg_.self && lease_until_ > now)
    return "I lead term " + std::to_string(state_.term) + " with a valid lease";
  if (granted_until_ > now && granted_to_ != c)
    return "lease granted to " + granted_to_ + " runs " + Ms(granted_until_ - now) + " more";
  // Someone else still looks like a healthy primary from here.  A primary fenced read-only,
  // or a leader that stepped down (fenced first) in this term, is not: the lease, not
  // this rule, keeps terms apart; gossip may still report the old state for a moment.
  bool released = !released_by_.empty() && m.term == released_term_ + 1;
  for (const Peer& p : w.peers)
    if (p.name != c && p.alive && p.pg_primary && p.pg_writable && p.timeline >= m.timeline &&
        !(released && p.name == released_by_))
      return p.name + " is alive and its PostgreSQL is a writable primary";
  if (c != cfg_.self && w.pg.up && !w.pg.in_recovery && w.pg.writable &&
      !(released && released_by_ == cfg_.self) && cfg_.Priority(cfg_.self) > 0 &&
      w.pg.timeline >= m.timeline)
    return "my own PostgreSQL is a writable primary";
  // A replica candidate must be at least as far ahead as every replica we know, ties
  // broken by priority, then name.  (A primary's replicas cannot be ahead of it on its
  // timeline; the positions gossip reports lag the one in its request.)
  if (m.primary) return "";
  auto cand = Position(m.timeline, m.lsn);
  auto better = [&](const std::string& name, uint64_t tl, uint64_t lsn) -> std::string {
    auto pos = Position(tl, lsn);
    if (pos > cand) return name + " has WAL further ahead";
    if (pos == cand && cfg_.Priority(name) > 0) {
      int pn = cfg_.Priority(name), pc = cfg_.Priority(c);
      if (pn > pc || (pn == pc && name < c)) return name + " is as far ahead and preferred";
    }
    return "";
  };
  for (const Peer& p : w.peers) {
    // Members that may never be promoted (priority 0, or no PostgreSQL) do not compete,
    // nor does the leader that stepped down for this election.
    if (p.name == c || !p.alive || !p.pg_up || cfg_.Priority(p.name) <= 0) continue;
    if (released && p.name == released_by_) continue;
    std::string r = better(p.name, p.timeline, p.lsn);
    if (!r.empty()) return r;
  }
  if (c != cfg_.self && w.pg.up && cfg_.Priority(cfg_.self) > 0 &&
      !(released && released_by_ == cfg_.self)) {
    std::string r = better(cfg_.self, w.pg.timeline, w.pg.lsn);
    if (!r.empty()) return r;
  }
  return "";
}

// Refuses a vote or pre-vote request when rule 5 gives a reason: the reply carries this
// node's own term (a candidate behind the cluster learns the term it is in) and the reason.
bool Failover::RefuseVote(TimePoint now, const FailoverMsg& m, const World& w, Actions& a) {
  std::string refusal = VoteRefusal(now, m, w);
  if (refusal.empty()) return false;
  bool pre = m.type == MsgType::kPreVoteRequest;
  FailoverMsg reply =
      Msg(pre ? MsgType::kPreVoteReply : MsgType::kVoteReply, state_.term, cfg_.self);
  reply.reason = refusal;
  (pre ? a.prevote_refused : a.vote_refused) = true;
  a.log.push_back("term " + std::to_string(m.term) + ": " +
                  (pre ? "would not vote for " : "refused vote to ") + m.from + ": " + refusal);
  Reply(m.from, reply, a);
  return true;
}

void Failover::OnVoteRequest(TimePoint now, const FailoverMsg& m, const World& w, Actions& a) {
  if (RefuseVote(now, m, w, a)) return;
  if (m.term > state_.term) {
    if (role_ == Role::kLeader) LoseLeadership(now, w, m.from + " stands in a higher term", a);
    BecomeFollower("a higher term started", a);
    AdoptTerm(m.term, "", a);
  }
  if (state_.voted_for != m.from) {
    state_.voted_for = m.from;
    a.durable = state_;
  }
  FailoverMsg reply = Msg(MsgType::kVoteReply, state_.term, cfg_.self);
  reply.granted = true;
  a.vote_granted = true;
  a.log.push_back("term " + std::to_string(m.term) + ": voted for " + m.from + " (timeline " +
                  std::to_string(m.timeline) + " lsn " + std::to_string(m.lsn) + ")");
  Reply(m.from, reply, a);
}

// A voter answers a pre-vote with what it would answer the vote, and changes nothing: no
// term, no vote, no lease.
void Failover::OnPreVoteRequest(TimePoint now, const FailoverMsg& m, const World& w, Actions& a) {
  if (RefuseVote(now, m, w, a)) return;
  FailoverMsg reply = Msg(MsgType::kPreVoteReply, m.term, cfg_.self);
  reply.granted = true;
  Reply(m.from, reply, a);
}

void Failover::OnRefusal(const FailoverMsg& m, Actions& a) {
  if (role_ != Role::kPreCandidate && role_ != Role::kCandidate) return;  // a late reply
  bool pre = m.type == MsgType::kPreVoteReply;
  if (m.term > state_.term || (pre && m.term == state_.term + 1)) {
    // The voter is in a term at least as new as the one asked for: a real election happened
    // there, which this node joins as a follower (and stands again, if it must, after it).
    BecomeFollower(m.from + " is in term " + std::to_string(m.term), a);
    AdoptTerm(m.term, "", a);
    return;
  }
  std::string& last = refusals_[m.from];
  if (last == m.reason) return;  // resent requests get the same answer: logged once
  last = m.reason;
  a.log.push_back("term " + std::to_string(pre ? state_.term + 1 : state_.term) + ": " + m.from +
                  (pre ? " would not vote: " : " refused: ") + m.reason);
}

void Failover::OnPreVoteReply(TimePoint now, const FailoverMsg& m, const World& w, Actions& a) {
  if (role_ != Role::kPreCandidate) return;
  if (!m.granted) return OnRefusal(m, a);
  if (m.term != state_.term + 1) return;  // a reply to an earlier pre-vote
  votes_.insert(m.from);
  if (votes_.size() >= cfg_.Majority()) StartElection(now, w, a);
}

void Failover::OnVoteReply(TimePoint now, const FailoverMsg& m, const World& w, Actions& a) {
  if (m.term > state_.term) return OnRefusal(m, a);
  if (role_ != Role::kCandidate || m.term != state_.term) return;
  if (!m.granted) return OnRefusal(m, a);
  votes_.insert(m.from);
  if (votes_.size() < cfg_.Majority()) return;
  role_ = Role::kLeader;
  state_.leader = cfg_.self;
  a.durable = state_;
  won_at_ = now;
  had_lease_ = false;
  lease_until_ = now;
  std::string who;
  for (const auto& v : votes_) who += (who.empty() ? "" : ", ") + v;
  a.elected = true;
  a.log.push_back("term " + std::to_string(state_.term) + ": elected leader with votes from " +
                  who);
  if (w.pg.in_recovery) {
    a.promote = true;
    a.log.push_back("term " + std::to_string(state_.term) + ": promoting the local PostgreSQL");
  }
  if (fenced_) {
    a.unfence = true;
    fenced_ = false;
    unfence_retry_at_ = now + cfg_.lease;
  }
  SendRenewals(now, a);
}

void Failover::SendRenewals(TimePoint now, Actions& a) {
  uint64_t seq = ++renew_seq_;
  Pending& p = pending_[seq];
  p.sent = now;
  if (cfg_.IsVoter(cfg_.self)) p.acks.insert(cfg_.self);
  if (p.acks.size() >= cfg_.Majority()) {  // a single-voter cluster
    lease_until_ = std::max(lease_until_, now + cfg_.lease);
    had_lease_ = true;
  }
  FailoverMsg m = Msg(MsgType::kLeaseRenew, state_.term, cfg_.self);
  m.seq = seq;
  for (const std::string& v : cfg_.voters)
    if (v != cfg_.self) a.send.emplace_back(v, m);
  next_renew_ = now + cfg_.renew_interval;
  // Renewals older than a lease can no longer extend it.
  while (!pending_.empty() && pending_.begin()->second.sent + cfg_.lease < now)
    pending_.erase(pending_.begin());
}

void Failover::OnLeaseRenew(TimePoint now, const FailoverMsg& m, Actions& a) {
  FailoverMsg ack = Msg(MsgType::kLeaseAck, state_.term, cfg_.self);
  ack.seq = m.seq;
  if (m.term < state_.term ||
      (m.term == state_.term && !state_.leader.empty() && state_.leader != m.from)) {
    Reply(m.from, ack, a);  // not granted; carries our term
    return;
  }
  term_known_ = true;
  if (m.term > state_.term || role_ != Role::kFollower) BecomeFollower(m.from + " leads", a);
  AdoptTerm(m.term, m.from, a);
  granted_until_ = now + cfg_.lease + cfg_.drift_margin;
  granted_to_ = m.from;
  ack.term = state_.term;
  ack.granted = true;
  Reply(m.from, ack, a);
}

void Failover::OnLeaseAck(const FailoverMsg& m) {
  if (role_ != Role::kLeader || m.term != state_.term || !m.granted) return;
  auto it = pending_.find(m.seq);
  if (it == pending_.end()) return;
  it->second.acks.insert(m.from);
  if (it->second.acks.size() >= cfg_.Majority()) {
    lease_until_ = std::max(lease_until_, it->second.sent + cfg_.lease);
    had_lease_ = true;
  }
}

Actions Failover::Receive(TimePoint now, const FailoverMsg& m, const World& w) {
  Actions a;
  if (m.from == cfg_.self) return a;
  switch (m.type) {
    case MsgType::kVoteRequest:
      if (cfg_.IsVoter(cfg_.self)) OnVoteRequest(now, m, w, a);
      break;
    case MsgType::kVoteReply:
      OnVoteReply(now, m, w, a);
      break;
    case MsgType::kPreVoteRequest:
      if (cfg_.IsVoter(cfg_.self)) OnPreVoteRequest(now, m, w, a);
      break;
    case MsgType::kPreVoteReply:
      OnPreVoteReply(now, m, w, a);
      break;
    case MsgType::kLeaseRenew:
      if (cfg_.IsVoter(cfg_.self)) OnLeaseRenew(now, m, a);
      break;
    case MsgType::kLeaseAck:
      if (!m.granted && m.term > state_.term) {
        LoseLeadership(now, w, m.from + " is in term " + std::to_string(m.term), a);
        AdoptTerm(m.term, "", a);
      } else {
        OnLeaseAck(m);
      }
      break;
    case MsgType::kStepDown:
      if (m.term == state_.term && state_.leader == m.from) {
        granted_until_ = now;  // the leader has fenced itself: no need to wait
        released_by_ = m.from;
        released_term_ = m.term;
        a.log.push_back("term " + std::to_string(m.term) + ": " + m.from + " stepped down");
      }
      break;
    case MsgType::kSwitchover:
      if (role_ == Role::kLeader) a = Switchover(now, m.target, w);
      break;
    case MsgType::kHandoff:
      OnHandoff(now, m, w, a);
      break;
    case MsgType::kStand:
      if (m.target == cfg_.self) a = Stand(now, m.target, w);
      break;
  }
  return a;
}

void Failover::FenceFailed(TimePoint now) {
  fenced_ = false;
  fence_retry_at_ = now + cfg_.election_timeout;
}

Actions Failover::Switchover(TimePoint now, const std::string& to, const World& w) {
  Actions a;
  std::string t = std::to_string(state_.term);
  pending_switchover_.clear();  // a new request replaces one that waits
  if (role_ != Role::kLeader) {
    if (state_.leader.empty() || state_.leader == cfg_.self) {
      a.log.push_back("term " + t + ": switchover to " + to + " refused: no leader to hand over");
      return a;
    }
    FailoverMsg m = Msg(MsgType::kSwitchover, state_.term, cfg_.self);
    m.target = to;
    a.send.emplace_back(state_.leader, m);
    a.log.push_back("term " + t + ": switchover to " + to + " passed on to the leader " +
                    state_.leader);
    return a;
  }
  switchover_until_ = now + cfg_.lease;
  SwitchoverInto(now, to, w, a);
  return a;
}

// On the leader.  A target that is not (yet) a running replica in this node's view — a
// rejoin that just finished, gossip a probe behind — is waited for up to a lease.
void Failover::SwitchoverInto(TimePoint now, const std::string& to, const World& w, Actions& a) {
  std::string t = std::to_string(state_.term);
  const Peer* p = w.Find(to);
  std::string refusal, wait;
  if (to == cfg_.self)
    refusal = "it already leads";
  else if (cfg_.Priority(to) <= 0)
    refusal = "it has priority 0";
  else if (!had_lease_ || now >= lease_until_)
    refusal = "this leader holds no lease";
  else if (!p || !p->alive)
    wait = "it is not alive";
  else if (!p->pg_up || p->pg_primary)
    wait = "its PostgreSQL is not a running replica";
  if (!wait.empty() && now < switchover_until_) {
    if (pending_switchover_ != to)
      a.log.push_back("term " + t + ": switchover to " + to + " waits: " + wait);
    pending_switchover_ = to;
    return;
  }
  pending_switchover_.clear();
  if (!refusal.empty() || !wait.empty()) {
    a.log.push_back("term " + t + ": switchover to " + to +
                    " refused: " + (refusal.empty() ? wait : refusal));
    return;
  }
  // Stop serving and fence now; the voters are released and the target told to stand
  // only once the fence is done (HandoffReady), so no write can land after the target
  // starts catching up.  Should the target not win, this node stands again later.
  LoseLeadership(now, w, "switchover to " + to, a);
  if (!a.fence) {  // already fenced: the fence action will not run again
    a.fence = true;
    fenced_ = true;
  }
  handoff_to_ = to;
  handoff_term_ = state_.term;
  a.handoff_to = to;
  election_deadline_ = now + cfg_.lease + cfg_.election_timeout;
}

Actions Failover::HandoffReady(TimePoint now, const Result<uint64_t>& final_lsn) {
  Actions a;
  std::string to = std::exchange(handoff_to_, "");
  if (to.empty() || handoff_term_ != state_.term || role_ == Role::kLeader) return a;
  std::string t = std::to_string(state_.term);
  if (!final_lsn.ok()) {
    a.log.push_back("term " + t + ": switchover to " + to + " abandoned: " +
                    final_lsn.status().message() + "; standing again after the lease");
    return a;
  }
  uint64_t lsn = *final_lsn;
  FailoverMsg release = Msg(MsgType::kStepDown, state_.term, cfg_.self);
  for (const std::string& v : cfg_.voters)
    if (v != cfg_.self) a.send.emplace_back(v, release);
  if (cfg_.IsVoter(cfg_.self)) granted_until_ = now;
  released_by_ = cfg_.self;
  released_term_ = state_.term;
  FailoverMsg h = Msg(MsgType::kHandoff, state_.term, cfg_.self);
  h.target = to;
  h.lsn = lsn;
  a.send.emplace_back(to, h);
  a.log.push_back("term " + t + ": fenced at lsn " + std::to_string(lsn) + "; handing over to " +
                  to);
  return a;
}

void Failover::OnHandoff(TimePoint now, const FailoverMsg& m, const World& w, Actions& a) {
  if (m.target != cfg_.self || m.term != state_.term || m.from != state_.leader) return;
  if (cfg_.Priority(cfg_.self) <= 0 || !w.pg.up || !w.pg.in_recovery) return;
  handoff_from_ = m.from;
  handoff_from_term_ = m.term;
  handoff_lsn_ = m.lsn;
  handoff_until_ = now + cfg_.lease;
  a.log.push_back("term " + std::to_string(m.term) + ": " + m.from +
                  " hands over; standing once the WAL reaches lsn " + std::to_string(m.lsn));
  TickHandoff(now, w, a);
}

void Failover::TickHandoff(TimePoint now, const World& w, Actions& a) {
  if (handoff_from_.empty() || role_ != Role::kFollower) return;
  // The handoff is for the election of the term after its own: once another term began
  // (an operator's failover --to, another leader), standing on it would be stale.
  if (state_.term != handoff_from_term_ || now >= handoff_until_) {
    a.log.push_back("term " + std::to_string(state_.term) + ": switchover from " + handoff_from_ +
                    " abandoned: " +
                    (state_.term != handoff_from_term_
                         ? "term " + std::to_string(state_.term) + " began meanwhile"
                         : "the WAL did not reach lsn " + std::to_string(handoff_lsn_) + " (at " +
                               std::to_string(w.pg.lsn) + ")"));
    handoff_from_.clear();
    return;
  }
  if (!w.pg.up || !w.pg.in_recovery || w.pg.lsn < handoff_lsn_) return;
  std::string from = std::exchange(handoff_from_, "");
  StartPreVote(now, w,
               "switchover from " + from + ", caught up to lsn " + std::to_string(handoff_lsn_), a);
}

Actions Failover::Stand(TimePoint now, const std::string& to, const World& w) {
  Actions a;
  std::string t = std::to_string(state_.term);
  if (to != cfg_.self) {
    FailoverMsg m = Msg(MsgType::kStand, state_.term, cfg_.self);
    m.target = to;
    a.send.emplace_back(to, m);
    a.log.push_back("term " + t + ": failover to " + to + " passed on to it");
    return a;
  }
  std::string refusal;
  if (role_ == Role::kLeader)
    refusal = "this node already leads";
  else if (cfg_.Priority(cfg_.self) <= 0)
    refusal = "this node has priority 0";
  else if (!w.pg.up)
    refusal = "the local PostgreSQL is down";
  else if (needs_rejoin_ && Superseded(w))
    refusal = "this node is a former primary: another member promoted on a later timeline";
  if (!refusal.empty()) {
    a.log.push_back("term " + t + ": failover to " + to + " refused: " + refusal);
    return a;
  }
  term_known_ = true;  // the operator vouches for it
  StartPreVote(now, w, "operator: failover --to " + to, a);
  return a;
}

Actions Failover::Pause(bool paused, const World& w) {
  Actions a;
  uint64_t v = state_.pause_version;
  for (const Peer& p : w.peers) v = std::max(v, p.pause_version);
  state_.pause_version = v + 1;
  state_.paused = paused;
  a.durable = state_;
  a.log.push_back(paused ? "failover paused by an operator: no automatic election or rejoin"
                         : "failover resumed by an operator");
  return a;
}

Actions Failover::Rejoin(TimePoint now, const World& w) {
  Actions a;
  if (!needs_rejoin_) {
    a.log.push_back("rejoin refused: the local PostgreSQL is not a former primary");
    return a;
  }
  next_rejoin_ = TimePoint{};
  AskRejoin(now, w, a);
  if (!a.rejoin)
    a.log.push_back("rejoin refused: the leader " + state_.leader +
                    " is not alive with a primary to follow" +
                    (Superseded(w) ? ""
                                   : "; if it never promoted, this node's WAL is the newest: "
                                     "keepwatch failover --to " +
                                         cfg_.self));
  return a;
}

bool Failover::Superseded(const World& w) const {
  for (const Peer& p : w.peers)
    if (p.timeline > w.pg.timeline) return true;
  return false;
}

// A former primary rejoins the leader once that one really is a primary to follow.
void Failover::AskRejoin(TimePoint now, const World& w, Actions& a) {
  const Peer* l = w.Find(state_.leader);
  if (!l || !l->alive || !l->pg_primary || now < next_rejoin_) return;
  a.rejoin = true;
  next_rejoin_ = now + cfg_.rejoin_retry;
  a.log.push_back("term " + std::to_string(state_.term) + ": rejoining as a replica of " + l->name);
}

Actions Failover::StepDown(TimePoint now, const std::string& why) {
  Actions a;
  StepDownInto(now, why, a);
  return a;
}

void Failover::StepDownInto(TimePoint now, const std::string& why, Actions& a) {
  if (role_ != Role::kLeader) return;
  World none;
  none.pg.up = true;  // fence whatever is there: the caller decides how
  LoseLeadership(now, none, why, a);
  // Only after fencing may the voters release the lease early.
  FailoverMsg m = Msg(MsgType::kStepDown, state_.term, cfg_.self);
  for (const std::string& v : cfg_.voters)
    if (v != cfg_.self) a.send.emplace_back(v, m);
  if (cfg_.IsVoter(cfg_.self)) granted_until_ = now;
  released_by_ = cfg_.self;
  released_term_ = state_.term;
  election_deadline_ = now + cfg_.lease;  // do not stand again at once
}

Actions Failover::Tick(TimePoint now, const World& w) {
  Actions a;
  if (!have_started_) {
    have_started_ = true;
    started_ = now;
  }
  // Established terms travel with gossip too: a higher term that has a leader is adopted
  // (without a vote).  A mere candidate's term is not: a candidate that cannot win must
  // not depose a leader that holds its lease (Raft's disruptive-server problem).
  for (const Peer& p : w.peers) {
    if (p.term > state_.term && !p.leader.empty()) {
      if (role_ == Role::kLeader)
        LoseLeadership(now, w, p.name + " is in term " + std::to_string(p.term), a);
      BecomeFollower("a higher term exists", a);
      AdoptTerm(p.term, p.leader, a);
    }
    if (p.alive) term_known_ = true;
    if (p.pause_version > state_.pause_version) {
      state_.pause_version = p.pause_version;
      state_.paused = p.paused;
      a.durable = state_;
      a.log.push_back(std::string("failover ") + (p.paused ? "paused" : "resumed") +
                      " by an operator (learned from " + p.name + ")");
    }
  }
  if (!term_known_ && now - started_ > cfg_.lease + cfg_.election_timeout) term_known_ = true;

  bool local_primary = w.pg.up && !w.pg.in_recovery;
  bool was_rejoin = needs_rejoin_;
  needs_rejoin_ = local_primary && role_ != Role::kLeader && !state_.leader.empty() &&
                  state_.leader != cfg_.self;
  if (needs_rejoin_ && !fenced_ && now >= fence_retry_at_) {
    a.fence = true;
    fenced_ = true;
  }
  if (needs_rejoin_ && !was_rejoin)
    a.log.push_back("term " + std::to_string(state_.term) + ": " + state_.leader +
                    " leads; the local primary is fenced and needs a rejoin");
  if (needs_rejoin_ && cfg_.auto_rejoin && !state_.paused) AskRejoin(now, w, a);

  switch (role_) {
    case Role::kLeader:
      if (!w.pg.up) {
        StepDownInto(now, "local PostgreSQL is down", a);
        break;
      }
      if (had_lease_ ? now >= lease_until_ : now >= won_at_ + cfg_.lease) {
        LoseLeadership(now, w,
                       had_lease_ ? "lease expired without renewal by a majority"
                                  : "no first lease from a majority",
                       a);
        election_deadline_ = now + ElectionBackoff();
        break;
      }
      if (w.pg.in_recovery && now >= won_at_ + cfg_.lease) {
        StepDownInto(now, "promotion did not complete within a lease", a);
        break;
      }
      if (!pending_switchover_.empty()) {
        std::string to = pending_switchover_;  // a copy: handing over clears it
        SwitchoverInto(now, to, w, a);
        if (role_ != Role::kLeader) break;  // handing over
      }
      if (w.pg.up && !w.pg.in_recovery && !w.pg.writable && now >= unfence_retry_at_) {
        // A read-only fence this node does not remember: the agent restarted after
        // fencing (the setting outlives it), or a fence failed halfway.  A leader that
        // stayed read-only would hold the role with nobody taking writes.
        a.unfence = true;
        fenced_ = false;
        unfence_retry_at_ = now + cfg_.lease;
        a.log.push_back("term " + std::to_string(state_.term) +
                        ": leader with a read-only PostgreSQL: lifting the fence");
      }
      if (now >= next_renew_) SendRenewals(now, a);
      break;
    case Role::kPreCandidate:
    case Role::kCandidate:
      if (now >= election_deadline_) {
        BecomeFollower("no majority (" + std::to_string(votes_.size()) + " of " +
                           std::to_string(cfg_.voters.size()) + " voters)",
                       a);
        election_deadline_ = now + ElectionBackoff();
      } else if (now >= next_resend_) {
        SendVoteRequests(now, a);
      }
      break;
    case Role::kFollower: {
      std::string why;
      if (!handoff_from_.empty())
        TickHandoff(now, w, a);
      else if (ShouldStandForElection(now, w, &why))
        StartPreVote(now, w, why, a);
      break;
    }
  }
  return a;
}

bool Failover::ServesPrimary(TimePoint now, const LocalPg& pg) const {
  return role_ == Role::kLeader && had_lease_ && now < lease_until_ && pg.up && !pg.in_recovery &&
         pg.writable;
}

}  // namespace kw
