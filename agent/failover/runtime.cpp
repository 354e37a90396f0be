#include "agent/failover/runtime.h"

#include "agent/failover/peers.h"

namespace kw {

FailoverConfig FailoverConfigFrom(const Config& cfg) {
  FailoverConfig f;
  f.self = cfg.agent.node;
  for (const MemberConfig& m : cfg.members) {
    if (m.voter) f.voters.push_back(m.name);
    if (m.postgres) {
      f.priority[m.name] = m.priority;
      f.pg_address[m.name] = m.pg;
    }
  }
  f.lease = cfg.cluster.lease;
  f.drift_margin = cfg.cluster.drift_margin;
  f.renew_interval = cfg.cluster.probe_interval;
  f.election_timeout = cfg.cluster.election_timeout;
  f.mode = cfg.cluster.failover;
  f.auto_rejoin = cfg.cluster.auto_rejoin;
  return f;
}

Result<std::unique_ptr<FailoverRuntime>> FailoverRuntime::Start(const Config& cfg,
                                                                const Clock& clock,
                                                                const SnapshotBox& box,
                                                                gossip::GossipService& gossip,
                                                                Logger& log) {
  std::unique_ptr<FailoverRuntime> rt(new FailoverRuntime(gossip, log));
  PgActuatorConfig pg;
  for (const CheckConfig& c : cfg.checks) {
    auto it = c.section.keys.find("conninfo");
    if (c.type == "postgres" && it != c.section.keys.end()) {
      pg.conninfo = it->second.value;
      break;
    }
  }
  pg.promote_command = cfg.cluster.promote_command;
  pg.fence = cfg.cluster.fence;
  pg.fence_command = cfg.cluster.fence_command;
  pg.rejoin_command = cfg.cluster.rejoin_command;
  pg.rejoin_conninfo = cfg.cluster.rejoin_conninfo;
  pg.pg_bindir = cfg.cluster.pg_bindir;
  pg.state_dir = cfg.agent.state_dir;
  rt->actuator_ = MakePgActuator(pg, rt->connector_, log);
  auto svc = FailoverService::Start(FailoverConfigFrom(cfg), cfg.agent.state_dir, clock, box, *rt,
                                    *rt, *rt->actuator_, log);
  if (!svc.ok()) return svc.status();
  rt->svc_ = std::move(svc.value());
  rt->gate_->svc = rt->svc_.get();
  gossip.OnUser([gate = rt->gate_](const std::string& from, const std::string& payload) {
    std::lock_guard<std::mutex> l(gate->mu);
    if (gate->svc) gate->svc->Deliver(from, payload);  // queues only: never blocks gossip
  });
  return rt;
}

FailoverRuntime::~FailoverRuntime() {
  {
    std::lock_guard<std::mutex> l(gate_->mu);
    gate_->svc = nullptr;
  }
  gossip_.OnUser(nullptr);
  svc_.reset();
}

std::vector<Peer> FailoverRuntime::Peers() const { return PeersFromView(gossip_.View()); }

void FailoverRuntime::SendFailover(const std::string& to, const std::string& payload) {
  Status s = gossip_.SendUser(to, payload);
  if (!s.ok()) log_.Log(LogLevel::kWarning, "failover: " + s.message());
}

}  // namespace kw
