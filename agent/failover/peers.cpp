#include "agent/failover/peers.h"

namespace kw {

std::vector<Peer> PeersFromView(const gossip::ClusterView& view) {
  std::vector<Peer> out;
  for (const gossip::MemberView& m : view.members) {
    if (m.self) continue;
    const gossip::NodeState& s = m.state;
    Peer p;
    p.name = m.name;
    p.alive = m.status == gossip::MemberStatus::kAlive;
    p.dead = m.status == gossip::MemberStatus::kDead;
    p.pg_primary = s.role == gossip::PgRole::kPrimary;
    p.pg_up = p.pg_primary || s.role == gossip::PgRole::kReplica;
    p.pg_writable = p.pg_primary && !s.read_only;
    p.paused = s.paused;
    p.pause_version = s.pause_version;
    p.timeline = s.timeline;
    p.lsn = p.pg_primary ? s.current_lsn : s.received_lsn;
    p.term = s.term;
    p.leader = s.leader;
    out.push_back(p);
  }
  return out;
}

}  // namespace kw
