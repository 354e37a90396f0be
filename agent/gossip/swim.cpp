#include "agent/gossip/swim.h"

#include <algorithm>
#include <cmath>

namespace kw::gossip {

namespace {

constexpr int kJoinFanout = 3;
// Hearing from nobody for this many probe intervals means we are the isolated one.
constexpr int kIsolatedAfterIntervals = 3;

Message ProbeMsg(MsgType type, uint32_t id, const std::string& target) {
  Message m;
  m.type = type;
  m.probe = id;
  m.target = target;
  return m;
}

}  // namespace

Swim::Swim(const SwimConfig& config, std::string self, const std::vector<std::string>& members,
           uint64_t seed, TimePoint now, uint64_t state_version)
    : config_(config), self_(std::move(self)), rng_(seed), awareness_(config.awareness_max) {
  for (const std::string& name : members) {
    if (index_.count(name)) continue;
    index_[name] = members_.size();
    Member m;
    m.view.name = name;
    m.view.self = name == self_;
    m.view.status_since = now;
    members_.push_back(std::move(m));
  }
  if (!index_.count(self_)) {  // the caller validated this; stay total anyway
    index_[self_] = members_.size();
    Member m;
    m.view.name = self_;
    m.view.self = true;
    m.view.status_since = now;
    members_.push_back(std::move(m));
  }
  Self().view.state.version = state_version;
  int n = static_cast<int>(members_.size());
  suspicion_min_ = SuspicionMin(config_.suspicion_mult, n, config_.probe_interval);
  // memberlist: expect suspicion_mult - 2 confirmations, none in clusters too small to
  // provide them.
  suspicion_k_ = config_.suspicion_mult - 2;
  if (n - 2 < suspicion_k_) suspicion_k_ = 0;
  retransmit_limit_ = config_.retransmit_mult * static_cast<int>(std::ceil(std::log10(n + 1.0)));
  queue_.set_limit(retransmit_limit_);
  last_call_ = now;
  started_ = now;
  next_probe_ = now + Duration(Rand(static_cast<uint64_t>(config_.probe_interval.count())));
  next_gossip_ = now + config_.gossip_interval;
  next_push_pull_ = now + config_.push_pull_interval;
  next_reconnect_ = now + config_.reconnect_interval;
}

Swim::Member* Swim::Get(const std::string& name) {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &members_[it->second];
}

const MemberView* Swim::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &members_[it->second].view;
}

std::vector<MemberView> Swim::Members() const {
  std::vector<MemberView> out;
  for (const Member& m : members_) out.push_back(m.view);
  return out;
}

void Swim::SetLocalState(const NodeState& state) {
  Member& s = Self();
  NodeState ns = state;
  ns.version = s.view.state.version;
  if (ns == s.view.state) return;  // unchanged: nothing to disseminate
  ns.version = s.view.state.version + 1;
  s.view.state = ns;
  queue_.Push(Update{UpdateKind::kState, self_, s.view.incarnation, self_, ns});
}

// ---- time ----

void Swim::Advance(TimePoint now) {
  Duration gap = now - last_call_;
  if (gap > config_.probe_interval + config_.gossip_interval) {
    // We did not run for `gap`: whatever our probe saw (or missed) says nothing about
    // the target, and nobody could have refuted a suspicion to us meanwhile.
    ++counters_.pauses;
    probe_.reset();
    relays_.clear();
    for (Member& m : members_)
      if (m.suspicion) m.suspicion->Postpone(gap);
  }
  // While we hear from nobody we cannot hear refutations either: our suspicions stand
  // still, exactly as during a pause, and resume when contact does.
  // Coming out of it, every suspicion gets at least the minimum timeout from now: the
  // refutations we could not hear have only just become possible.
  if (now > last_call_ && frozen_) {
    for (Member& m : members_)
      if (m.suspicion) m.suspicion->Postpone(now - last_call_);
  }
  bool frozen = Isolated(now);
  if (frozen_ && !frozen) {
    for (Member& m : members_) {
      if (!m.suspicion) continue;
      TimePoint earliest = now + suspicion_min_;
      if (m.suspicion->Deadline() < earliest)
        m.suspicion->Postpone(earliest - m.suspicion->Deadline());
    }
  }
  frozen_ = frozen;
  if (now > last_call_) last_call_ = now;
}

TimePoint Swim::NextWakeup() const {
  if (!joined_) return last_call_;
  TimePoint t = next_gossip_;
  t = std::min({t, next_push_pull_, next_reconnect_});
  if (probe_) {
    if (!probe_->acked && !probe_->indirect_sent) t = std::min(t, probe_->timeout);
    t = std::min(t, probe_->end);
  } else {
    t = std::min(t, next_probe_);
  }
  for (const auto& [id, r] : relays_) t = std::min(t, r.nacked ? r.expires : r.nack_at);
  for (const Member& m : members_)
    if (m.suspicion && !frozen_) t = std::min(t, m.suspicion->Deadline());
  return t;
}

void Swim::Tick(TimePoint now, Output& out) {
  Advance(now);
  if (!joined_) {
    // Catch up with the cluster right away: our view is only the configuration.
    joined_ = true;
    for (const std::string& to : Pick(kJoinFanout, {self_}, true)) PushPull(now, to, false, out);
  }
  if (probe_) {
    if (!probe_->acked && !probe_->indirect_sent && now >= probe_->timeout) SendIndirect(now, out);
    if (now >= probe_->end) FinishProbe(now, out);
  }
  if (!probe_ && now >= next_probe_) StartProbe(now, out);

  for (auto it = relays_.begin(); it != relays_.end();) {
    Relay& r = it->second;
    if (!r.nacked && now >= r.nack_at) {
      r.nacked = true;
      Emit(r.origin, ProbeMsg(MsgType::kNack, r.origin_probe, r.target), out);
    }
    it = now >= r.expires ? relays_.erase(it) : std::next(it);
  }

  // Frozen, no verdicts at all: a confirmation arriving now would otherwise shorten a
  // timeout straight into the past.
  for (Member& m : members_) {
    if (!frozen_ && m.suspicion && now >= m.suspicion->Deadline())
      OnDead(now, m.view.name, m.suspicion_incarnation, self_, out);
  }

  if (now >= next_gossip_) {
    next_gossip_ = now + config_.gossip_interval;
    if (!queue_.empty()) Gossip(out);
  }
  if (now >= next_push_pull_) {
    next_push_pull_ = now + config_.push_pull_interval;
    for (const std::string& to : Pick(1, {self_}, true)) PushPull(now, to, false, out);
  }
  if (now >= next_reconnect_) {
    // Dead members are not probed; this is how a healed partition or a restarted member
    // is found again (static membership: nobody re-joins by hand).
    next_reconnect_ = now + config_.reconnect_interval;
    std::vector<std::string> dead;
    for (const Member& m : members_)
      if (m.view.status == MemberStatus::kDead) dead.push_back(m.view.name);
    if (!dead.empty()) PushPull(now, dead[Rand(dead.size())], false, out);
  }
}

bool Swim::Isolated(TimePoint now) const {
  TimePoint last{};
  for (const Member& m : members_)
    if (!m.view.self && m.view.last_heard) last = std::max(last, *m.view.last_heard);
  // Before anything was ever heard (start-up) we count from our own start.
  if (last == TimePoint{}) last = started_;
  return now - last > config_.probe_interval * kIsolatedAfterIntervals;
}

// ---- probing ----

void Swim::StartProbe(TimePoint now, Output& out) {
  next_probe_ = now + awareness_.Scale(config_.probe_interval);
  std::string target;
  // Every other period goes to the suspect we probed longest ago, if any: the probe
  // carries our accusation (buddy system) and its ack the refutation, so a suspect that
  // is alive gets several direct chances before its timeout, whatever dissemination
  // lost on the way.  The other periods keep the round-robin (crash detection time).
  suspect_turn_ = !suspect_turn_;
  if (suspect_turn_) {
    const Member* oldest = nullptr;
    for (const Member& m : members_)
      if (m.view.status == MemberStatus::kSuspect &&
          (oldest == nullptr || m.last_probed < oldest->last_probed))
        oldest = &m;
    if (oldest != nullptr) target = oldest->view.name;
  }
  for (size_t attempts = 0; attempts <= members_.size() && target.empty(); ++attempts) {
    if (probe_pos_ >= probe_order_.size()) {
      probe_order_.clear();
      for (const Member& m : members_)
        if (!m.view.self) probe_order_.push_back(m.view.name);
      for (size_t i = probe_order_.size(); i > 1; --i)
        std::swap(probe_order_[i - 1], probe_order_[Rand(i)]);
      probe_pos_ = 0;
      if (probe_order_.empty()) return;
    }
    const std::string& name = probe_order_[probe_pos_++];
    if (Get(name)->view.status != MemberStatus::kDead) target = name;
  }
  if (target.empty()) return;
  Probe p;
  p.target = target;
  p.id = next_probe_id_++;
  p.started = now;
  p.timeout = now + awareness_.Scale(config_.probe_timeout);
  p.end = next_probe_;
  probe_ = p;
  Get(target)->last_probed = now;
  ++counters_.probes;
  Emit(target, ProbeMsg(MsgType::kPing, p.id, target), out);
}

void Swim::SendIndirect(TimePoint, Output& out) {
  probe_->indirect_sent = true;
  std::vector<std::string> helpers =
      Pick(config_.indirect_checks, {self_, probe_->target}, /*include_suspect=*/false);
  probe_->expected_nacks = static_cast<int>(helpers.size());
  // The request carries our accusation, so the helper's ping tells the target (buddy
  // system through a third party: the direct path may be the broken one).
  std::optional<Update> claim = ClaimAbout(probe_->target);
  for (const std::string& h : helpers) {
    ++counters_.indirect_probes;
    Message m = ProbeMsg(MsgType::kPingReq, probe_->id, probe_->target);
    if (claim) m.updates.push_back(*claim);
    Emit(h, std::move(m), out);
  }
}

void Swim::FinishProbe(TimePoint now, Output& out) {
  Probe p = *probe_;
  probe_.reset();
  if (p.acked) {
    awareness_.Apply(-1);
    return;
  }
  ++counters_.probe_failures;
  // Lifeguard: helpers that could not reach the target either answer nack.  Missing
  // nacks mean our own messages are not getting through: blame ourselves, not only it.
  if (p.expected_nacks > 0) {
    if (p.nacks < p.expected_nacks) awareness_.Apply(p.expected_nacks - p.nacks);
  } else {
    awareness_.Apply(1);
  }
  if (Member* m = Get(p.target)) OnSuspect(now, p.target, m->view.incarnation, self_, out);
}

// ---- receiving ----

void Swim::Receive(TimePoint now, const Message& msg, Output& out) {
  Advance(now);
  Member* from = Get(msg.sender);
  if (from == nullptr || from->view.self) {
    ++counters_.ignored;
    return;
  }
  ++counters_.messages_in;
  from->view.last_heard = now;
  // Claims first: a refutation inside a ping must count before we answer it.
  for (const Update& u : msg.updates) ApplyUpdate(now, u, out);

  switch (msg.type) {
    case MsgType::kPing:
      if (msg.target != self_) {
        ++counters_.ignored;
        break;
      }
      Emit(msg.sender, AckMsg(msg.probe, self_), out);
      break;
    case MsgType::kPingReq: {
      Member* t = Get(msg.target);
      if (t == nullptr || t->view.self || msg.target == msg.sender) {
        ++counters_.ignored;
        break;
      }
      uint32_t id = next_probe_id_++;
      Relay r;
      r.origin = msg.sender;
      r.origin_probe = msg.probe;
      r.target = msg.target;
      // Nack a little before the origin's period ends so it still counts there.
      r.nack_at = now + config_.probe_timeout * 4 / 5;
      r.expires = now + config_.probe_timeout * 2;
      relays_[id] = r;
      Emit(msg.target, ProbeMsg(MsgType::kPing, id, msg.target), out);
      break;
    }
    case MsgType::kAck:
      if (probe_ && msg.probe == probe_->id && msg.target == probe_->target) {
        probe_->acked = true;
      } else if (auto it = relays_.find(msg.probe); it != relays_.end() &&
                                                    it->second.target == msg.sender &&
                                                    msg.target == msg.sender) {
        Relay r = it->second;
        relays_.erase(it);
        Emit(r.origin, AckMsg(r.origin_probe, r.target), out);
      }
      break;
    case MsgType::kNack:
      if (probe_ && msg.probe == probe_->id && msg.target == probe_->target) ++probe_->nacks;
      break;
    case MsgType::kPushPull: {
      MergeRecords(now, msg, out);
      auto it = last_reply_.find(msg.sender);
      // A large state arrives in several datagrams: answer the first, not each.
      if (!msg.reply && (it == last_reply_.end() || now - it->second >= config_.probe_interval))
        PushPull(now, msg.sender, true, out);
      break;
    }
    case MsgType::kGossip:
      break;
    case MsgType::kUser:
      out.delivered.push_back(Delivered{msg.sender, msg.payload});
      break;
  }
}

bool Swim::SendUser(const std::string& to, std::string payload, Output& out) {
  Member* m = Get(to);
  if (m == nullptr || m->view.self) return false;
  Message msg;
  msg.type = MsgType::kUser;
  msg.sender = self_;
  msg.payload = std::move(payload);
  if (EncodedSize(msg) > kMaxPlaintext) return false;
  Emit(to, std::move(msg), out);
  return true;
}

void Swim::MergeRecords(TimePoint now, const Message& msg, Output& out) {
  for (const Record& r : msg.records) {
    if (Get(r.member) == nullptr) continue;
    switch (r.status) {
      case MemberStatus::kAlive:
        OnAlive(now, r.member, r.incarnation, out);
        break;
      case MemberStatus::kSuspect:
      case MemberStatus::kDead:
        // A death seen elsewhere may be stale or local to that member's partition: we
        // only suspect, and let the timeout (or a refutation) decide here.  A record
        // does not say who first suspected, and may echo our own suspicion back to us,
        // so it starts a suspicion but never confirms one.
        OnSuspect(now, r.member, r.incarnation, msg.sender, out, /*confirm=*/false);
        break;
    }
    if (r.state.version != 0) OnState(r.member, r.state);
  }
}

void Swim::ApplyUpdate(TimePoint now, const Update& u, Output& out) {
  if (Get(u.member) == nullptr || Get(u.from) == nullptr) return;
  switch (u.kind) {
    case UpdateKind::kAlive:
      OnAlive(now, u.member, u.incarnation, out);
      break;
    case UpdateKind::kSuspect:
      OnSuspect(now, u.member, u.incarnation, u.from, out);
      break;
    case UpdateKind::kDead:
      // Every member reaches its own verdict: a death claim from elsewhere is strong
      // evidence (it starts or confirms a suspicion), never a verdict here by itself.
      // Otherwise the stale verdicts of a cut-off minority would kill live members the
      // moment the cut heals, before they could refute.
      if (u.member == self_)
        OnDead(now, u.member, u.incarnation, u.from, out);
      else
        OnSuspect(now, u.member, u.incarnation, u.from, out);
      break;
    case UpdateKind::kState:
      OnState(u.member, u.state);
      break;
  }
}

// ---- the precedence rules ----

void Swim::OnAlive(TimePoint now, const std::string& member, uint64_t inc, Output& out) {
  Member* m = Get(member);
  if (m == nullptr) return;
  if (m->view.self) {
    // Someone heard us alive at an incarnation we no longer know (our previous run):
    // make ours the newest.
    if (inc > m->view.incarnation) Refute(inc);
    return;
  }
  if (inc <= m->view.incarnation) return;
  m->suspicion.reset();
  SetStatus(now, *m, MemberStatus::kAlive, inc, out);
  queue_.Push(Update{UpdateKind::kAlive, member, inc, self_, {}});
}

void Swim::OnSuspect(TimePoint now, const std::string& member, uint64_t inc,
                     const std::string& from, Output& out, bool confirm) {
  Member* m = Get(member);
  if (m == nullptr) return;
  if (m->view.self) {
    if (inc < m->view.incarnation) {
      // A stale accusation: its author missed our refutation.  Say it again (no new
      // incarnation needed); it rides on our very next message, usually the ack to it.
      Reannounce();
      return;
    }
    awareness_.Apply(1);
    Refute(inc);
    return;
  }
  if (inc < m->view.incarnation) return;
  if (m->view.status == MemberStatus::kDead) return;
  if (m->view.status == MemberStatus::kSuspect) {
    if (confirm && m->suspicion && m->suspicion->Confirm(from))
      queue_.Push(Update{UpdateKind::kSuspect, member, inc, from, {}});
    return;
  }
  ++counters_.suspicions;
  Duration min = suspicion_min_;
  m->suspicion =
      std::make_unique<Suspicion>(from, suspicion_k_, min, min * config_.suspicion_max_mult, now);
  m->suspicion_incarnation = inc;
  SetStatus(now, *m, MemberStatus::kSuspect, inc, out);
  queue_.Push(Update{UpdateKind::kSuspect, member, inc, from, {}});
}

void Swim::OnDead(TimePoint now, const std::string& member, uint64_t inc, const std::string& from,
                  Output& out) {
  Member* m = Get(member);
  if (m == nullptr) return;
  if (m->view.self) {
    if (inc < m->view.incarnation) {
      Reannounce();
    } else {
      awareness_.Apply(1);
      Refute(inc);
    }
    return;
  }
  if (inc < m->view.incarnation || m->view.status == MemberStatus::kDead) return;
  m->suspicion.reset();
  ++counters_.deaths;
  SetStatus(now, *m, MemberStatus::kDead, inc, out);
  queue_.Push(Update{UpdateKind::kDead, member, inc, from, {}});
}

void Swim::OnState(const std::string& member, const NodeState& state) {
  Member* m = Get(member);
  if (m == nullptr) return;
  NodeState& cur = m->view.state;
  if (m->view.self) {
    // A state of ours newer than we know of, or a different one under our version:
    // left from a previous run.  Re-announce ours above it.
    if (state.version > cur.version || (state.version == cur.version && !(state == cur))) {
      cur.version = state.version + 1;
      queue_.Push(Update{UpdateKind::kState, self_, m->view.incarnation, self_, cur});
    }
    return;
  }
  if (state.version <= cur.version) return;
  cur = state;
  queue_.Push(Update{UpdateKind::kState, member, m->view.incarnation, member, state});
}

void Swim::Refute(uint64_t accused) {
  Member& s = Self();
  s.view.incarnation = std::max(s.view.incarnation, accused) + 1;
  ++counters_.refutations;
  queue_.Push(Update{UpdateKind::kAlive, self_, s.view.incarnation, self_, {}});
}

void Swim::Reannounce() {
  const Member& s = Self();
  queue_.Push(Update{UpdateKind::kAlive, self_, s.view.incarnation, self_, {}});
}

void Swim::SetStatus(TimePoint now, Member& m, MemberStatus s, uint64_t inc, Output& out) {
  if (m.view.status != s) {
    out.events.push_back(MemberEvent{m.view.name, m.view.status, s, inc});
    m.view.status_since = now;
  }
  m.view.status = s;
  m.view.incarnation = inc;
}

// ---- sending ----

Message Swim::AckMsg(uint32_t probe, const std::string& target) {
  // An ack carries the target's incarnation as we know it (ours when we are the target;
  // what its own ack just told us when we relay).  A prober that missed a refutation,
  // e.g. behind a one-way cut, learns it from the probe itself.
  Message m = ProbeMsg(MsgType::kAck, probe, target);
  const Member* t = Get(target);
  if (t != nullptr && t->view.status == MemberStatus::kAlive)
    m.updates.push_back(Update{UpdateKind::kAlive, target, t->view.incarnation, self_, {}});
  return m;
}

std::optional<Update> Swim::ClaimAbout(const std::string& name) {
  const Member* t = Get(name);
  if (t == nullptr || t->view.status == MemberStatus::kAlive) return std::nullopt;
  UpdateKind kind =
      t->view.status == MemberStatus::kSuspect ? UpdateKind::kSuspect : UpdateKind::kDead;
  return Update{kind, name, t->view.incarnation, self_, {}};
}

void Swim::Gossip(Output& out) {
  for (const std::string& to : Pick(config_.gossip_nodes, {self_}, true)) {
    if (queue_.empty()) break;
    Message m;
    m.type = MsgType::kGossip;
    Emit(to, std::move(m), out);
  }
}

void Swim::PushPull(TimePoint now, const std::string& to, bool reply, Output& out) {
  if (reply) last_reply_[to] = now;
  Message base;
  base.type = MsgType::kPushPull;
  base.sender = self_;
  base.reply = reply;
  size_t base_size = EncodedSize(base);
  Message m = base;
  size_t size = base_size;
  for (const Member& mem : members_) {
    Record r{mem.view.name, mem.view.status, mem.view.incarnation, mem.view.state};
    size_t rs = EncodedSize(r);
    if (size + rs > kMaxPlaintext || m.records.size() >= kMaxRecords) {
      Emit(to, std::move(m), out);
      m = base;
      size = base_size;
    }
    m.records.push_back(std::move(r));
    size += rs;
  }
  if (!m.records.empty()) Emit(to, std::move(m), out);
}

void Swim::Emit(const std::string& to, Message msg, Output& out) {
  msg.sender = self_;
  size_t size = EncodedSize(msg);
  size_t budget = size < kMaxPlaintext ? kMaxPlaintext - size : 0;
  // Buddy system: a member we suspect (or think dead) hears our claim first, so it can
  // refute on this very message.
  if (std::optional<Update> claim = ClaimAbout(to)) {
    size_t cs = EncodedSize(*claim);
    if (cs <= budget) {
      budget -= cs;
      msg.updates.insert(msg.updates.begin(), std::move(*claim));
    }
  }
  for (Update& u : queue_.Take(budget, to, kMaxUpdates - msg.updates.size()))
    msg.updates.push_back(std::move(u));
  ++counters_.messages_out;
  out.sends.push_back(Send{to, std::move(msg)});
}

std::vector<std::string> Swim::Pick(int k, const std::vector<std::string>& exclude,
                                    bool include_suspect) {
  std::vector<std::string> c;
  for (const Member& m : members_) {
    if (std::find(exclude.begin(), exclude.end(), m.view.name) != exclude.end()) continue;
    if (m.view.status == MemberStatus::kDead) continue;
    if (m.view.status == MemberStatus::kSuspect && !include_suspect) continue;
    c.push_back(m.view.name);
  }
  size_t want = std::min(c.size(), static_cast<size_t>(std::max(0, k)));
  for (size_t i = 0; i < want; ++i) std::swap(c[i], c[i + Rand(c.size() - i)]);
  c.resize(want);
  return c;
}

}  // namespace kw::gossip
