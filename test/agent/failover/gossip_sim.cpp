#include "test/agent/failover/gossip_sim.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "agent/config.h"
#include "agent/failover/codec.h"
#include "agent/failover/peers.h"
#include "agent/failover/runtime.h"
#include "agent/failover/service.h"
#include "agent/gossip/cluster_api.h"
#include "checks/postgres.h"

namespace kw::failover_sim {
namespace {

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
constexpr Duration kTick = milliseconds(100);   // FailoverService's loop
constexpr Duration kProbe = seconds(2);         // the postgres check's default interval
constexpr Duration kPgStep = milliseconds(20);  // the PostgreSQL model's resolution
constexpr uint64_t kStepLimit = 20'000'000;

struct Spec {
  const char* name;
  bool voter;
  int priority;  // -1: no PostgreSQL
};
constexpr Spec kMembers[] = {{"pg1", true, 100}, {"pg2", true, 50},   {"lb1", true, -1},
                             {"lb2", true, -1},  {"odoo1", true, -1}, {"odoo2", false, -1}};

// The configuration the daemon would read, so that FailoverConfigFrom maps it.
Config ClusterConfigFor(Duration probe_interval) {
  Config cfg;
  cfg.cluster.present = true;
  cfg.cluster.probe_interval = probe_interval;
  for (const Spec& s : kMembers) {
    MemberConfig m;
    m.name = s.name;
    m.voter = s.voter;
    m.postgres = s.priority >= 0;
    m.priority = std::max(0, s.priority);
    cfg.members.push_back(m);
  }
  return cfg;
}

}  // namespace

GossipSim::GossipSim(const GossipSimOptions& o)
    : o_(o),
      rng_(o.seed),
      now_(kT0),
      next_pg_step_(kT0),
      log_(std::getenv("KW_SIM_LOG")),
      checks_(static_cast<int>(std::size(kMembers)),
              [this](const std::string& why) { Fail(why); }) {
  std::vector<std::string> names;
  for (const Spec& s : kMembers) {
    Node n;
    n.name = s.name;
    n.priority = s.priority;
    nodes_.push_back(std::move(n));
    names.push_back(s.name);
  }
  nodes_[1].pg.in_recovery = true;  // pg2 replicates pg1
  nodes_[1].pg.writable = false;
  gossip::SwimConfig swim;
  swim.probe_interval = o.probe_interval;
  swim.probe_timeout = o.probe_interval / 2;
  net_ = std::make_unique<gossip::sim::SwimNet>(names, swim, rng_, kT0);
  net_->loss = o.loss;
  net_->blocked = [this](int from, int to) { return cut_[from][to]; };
  net_->on_event = [this](int at, const gossip::MemberEvent& e) { OnEvent(at, e); };
  net_->on_user = [this](int at, const gossip::Delivered& d) { OnUser(at, d); };
  cut_.assign(nodes_.size(), std::vector<bool>(nodes_.size(), false));
  dead_seen_.assign(nodes_.size(), std::vector<int>(nodes_.size(), -1));
  for (int i = 0; i < size(); ++i) {
    double rate = o.drift ? 0.99 + 0.02 * gossip::sim::Uniform(rng_) : 1.0;
    net_->SetRate(i, rate);
  }
  for (int i = 0; i < size(); ++i) Start(i);
}

GossipSim::~GossipSim() = default;

int GossipSim::now_ms() const {
  return static_cast<int>(std::chrono::duration_cast<milliseconds>(now_ - kT0).count());
}

const std::string& GossipSim::name(int i) const { return nodes_[i].name; }

void GossipSim::Start(int i) {
  Node& n = nodes_[i];
  Config cfg = ClusterConfigFor(o_.probe_interval);
  cfg.agent.node = n.name;
  n.fo = std::make_unique<Failover>(FailoverConfigFrom(cfg), n.disk);
  net_->Start(i, now_);
  n.snap = Snapshot{};
  n.local = LocalPg{};
  if (n.priority >= 0) {  // the first probe runs at start, then every interval
    Probe(i);
    n.next_probe = net_->Global(i, Local(i) + kProbe);
  }
  n.next_tick = now_;
  Publish(i);
}

void GossipSim::Probe(int i) {
  Node& n = nodes_[i];
  CheckState c;
  c.name = "postgres";
  c.type = "postgres";
  c.has_result = true;
  c.last = InterpretPostgresReply(QueryOf(n.pg), PostgresOptions{}, 0.001);
  c.up = c.last.outcome == Outcome::kPass;
  n.snap.checks = {c};
  n.local = LocalPgFrom(n.snap);
}

void GossipSim::Publish(int i) {
  Node& n = nodes_[i];
  gossip::NodeState s = gossip::NodeStateFromSnapshot(n.snap);
  s.term = n.fo->term();
  s.leader = n.fo->leader();
  s.paused = n.fo->paused();
  s.pause_version = n.fo->durable().pause_version;
  net_->swim(i).SetLocalState(s);
}

World GossipSim::WorldOf(int i) const {
  gossip::ClusterView view;
  view.self = nodes_[i].name;
  view.members = net_->swim(i).Members();
  World w;
  w.pg = nodes_[i].local;
  w.peers = PeersFromView(view);
  return w;
}

template <class Call>
void GossipSim::Run(int i, bool tick, const World& w, Call&& call) {
  Node& n = nodes_[i];
  Role before = n.fo->role();
  Actions a = call(*n.fo);
  checks_.Acted(i, n.name, *n.fo, before, tick, w, a, n.pg);
  Apply(i, a);
}

void GossipSim::Operate(int i, OpKind op, int target) {
  if (!Running(i)) return;  // the command line gets no answer
  World w = WorldOf(i);
  Run(i, false, w, [&](Failover& fo) {
    return failover_sim::Operate(fo, Local(i), w, op, nodes_[target].name);
  });
}

void GossipSim::Tick(int i) {
  Node& n = nodes_[i];
  World w = WorldOf(i);
  Run(i, true, w, [&](Failover& fo) { return fo.Tick(Local(i), w); });
  Publish(i);  // the daemon publishes its node state every 100 ms
  n.next_tick = net_->Global(i, Local(i) + kTick);
}

void GossipSim::OnUser(int i, const gossip::Delivered& d) {
  Result<FailoverMsg> m = DecodeFailover(d.payload);
  if (!m.ok() || m->from != d.from) {
    Fail(nodes_[i].name + " got a failover payload it cannot read from " + d.from);
    return;
  }
  checks_.Delivering(i, nodes_[i].name, *nodes_[i].fo, *m);
  World w = WorldOf(i);
  Run(i, false, w, [&](Failover& fo) { return fo.Receive(Local(i), *m, w); });
}

void GossipSim::OnEvent(int i, const gossip::MemberEvent& e) {
  if (log_)
    std::printf("%6d %s: gossip: %s %s -> %s\n", now_ms(), nodes_[i].name.c_str(), e.member.c_str(),
                gossip::MemberStatusName(e.from), gossip::MemberStatusName(e.to));
  int subject = net_->IndexOf(e.member);
  if (e.to == gossip::MemberStatus::kDead && subject >= 0 && nodes_[subject].crashed &&
      dead_seen_[i][subject] < 0)
    dead_seen_[i][subject] = now_ms();
}

void GossipSim::Apply(int i, const Actions& a) {
  Node& n = nodes_[i];
  if (log_)
    for (const std::string& l : a.log)
      std::printf("%6d %s: %s\n", now_ms(), n.name.c_str(), l.c_str());
  if (a.durable) n.disk = *a.durable;  // persisted before anything is sent
  for (const auto& [to, msg] : a.send)
    if (!net_->SendUser(i, now_, to, EncodeFailover(msg)))
      Fail(n.name + " could not send a failover message to " + to);
  int handoff_at = CarryPgActions(n.pg, a, now_ms(), net_->IndexOf(n.fo->leader()), rng_);
  if (handoff_at >= 0) n.handoff_at = handoff_at;
  if (n.fo->role() == Role::kLeader) {
    auto [it, fresh] = leader_of_term_.emplace(n.fo->term(), n.name);
    if (!fresh && it->second != n.name)
      Fail("term " + std::to_string(n.fo->term()) + " has two leaders: " + it->second + " and " +
           n.name);
  }
}

int GossipSim::Serving() {
  for (int i = 0; i < size(); ++i)
    if (Running(i) && nodes_[i].fo->ServesPrimary(Local(i), nodes_[i].local)) return i;
  return -1;
}

void GossipSim::Check() {
  std::string who;
  int serving = 0;
  for (int i = 0; i < size(); ++i) {
    if (!Running(i) || !nodes_[i].fo->ServesPrimary(Local(i), nodes_[i].local)) continue;
    ++serving;
    who += " " + nodes_[i].name;
  }
  if (serving > 1) Fail("two members answer 200 on /primary:" + who);
}

void GossipSim::Fail(const std::string& why) {
  if (!failure_.empty()) return;
  failure_ = "t=" + std::to_string(now_ms()) + "ms: " + why;
  if (log_) std::printf("%6d FAILED: %s\n", now_ms(), why.c_str());
}

bool GossipSim::RunUntil(int ms) {
  const TimePoint end = kT0 + milliseconds(ms);
  for (uint64_t steps = 0; now_ < end && failure_.empty(); ++steps) {
    if (steps > kStepLimit) {
      Fail("step limit reached (a timer that never advances?)");
      break;
    }
    TimePoint t = std::min(net_->NextEvent(end), next_pg_step_);
    for (int i = 0; i < size(); ++i) {
      if (!Running(i)) continue;
      t = std::min(t, nodes_[i].next_tick);
      if (nodes_[i].handoff_at >= 0) t = std::min(t, kT0 + milliseconds(nodes_[i].handoff_at));
      if (nodes_[i].priority >= 0) t = std::min(t, nodes_[i].next_probe);
    }
    now_ = std::max(now_, t);
    if (now_ >= next_pg_step_) {
      std::vector<SimPg*> pgs;
      for (Node& n : nodes_) pgs.push_back(n.priority >= 0 && !n.crashed ? &n.pg : nullptr);
      for (auto [i, lsn] :
           StepPostgres(pgs, now_ms(), [this](int p, int r) { return !cut_[p][r] && !cut_[r][p]; }))
        checks_.Promoted(i, nodes_[i].name, lsn);
      for (int i = 0; i < size(); ++i)
        if (pgs[i]) checks_.Stepped(i, nodes_[i].name, *nodes_[i].fo, nodes_[i].pg);
      next_pg_step_ += kPgStep;
    }
    net_->Advance(now_);  // failover messages are handled as gossip delivers them
    if (!net_->error().empty()) Fail(net_->error());
    for (int i = 0; i < size() && failure_.empty(); ++i) {
      Node& n = nodes_[i];
      if (!Running(i)) continue;
      if (n.priority >= 0 && now_ >= n.next_probe) {
        Probe(i);
        n.next_probe = net_->Global(i, Local(i) + kProbe);
      }
      if (n.handoff_at >= 0 && now_ms() >= n.handoff_at) {
        n.handoff_at = -1;
        Run(i, false, World{}, [&](Failover& fo) { return HandoffReadyOf(fo, Local(i), n.pg); });
      }
      if (now_ >= n.next_tick) Tick(i);
    }
    Check();
  }
  return failure_.empty();
}

void GossipSim::Crash(int i) {
  Node& n = nodes_[i];
  n.crashed = true;
  n.handoff_at = -1;
  CrashPg(n.pg);
  net_->Crash(i);
  for (auto& seen : dead_seen_) seen[i] = -1;
}

void GossipSim::Restart(int i) {
  Node& n = nodes_[i];
  n.crashed = false;
  n.pg.up = n.priority >= 0;
  Start(i);  // memory lost; the disk state is kept
}

void GossipSim::Pause(int i, int ms) {
  if (Running(i)) net_->Pause(i, now_ + milliseconds(ms));
}

}  // namespace kw::failover_sim
